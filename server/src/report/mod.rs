//! Reports rendered on the server: charts as SVG strings the console embeds.

pub mod chart;
