//! The one formatter for figures people read: kW / MW, kWh and money, with units and
//! thousands separators. Pages, warnings written on the server and CSV-free text all use it,
//! so one figure reads the same everywhere.

/// `1234567.891` with `decimals` → `1,234,567.89`.
pub fn thousands(v: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s.as_str(), None),
    };
    let mut out = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    // No "-0.00": a figure that rounds to zero has no sign.
    if v < 0.0 && out.chars().any(|c| c.is_ascii_digit() && c != '0') {
        format!("-{out}")
    } else {
        out
    }
}

/// A power figure given in kW: MW with two decimals from 1,000 kW up (`12.84 MW`), kW with
/// one decimal below (`840.5 kW`).
pub fn kw(kw: f64) -> String {
    if kw.abs() >= 1000.0 {
        format!("{} MW", thousands(kw / 1000.0, 2))
    } else {
        format!("{} kW", thousands(kw, 1))
    }
}

/// Energy in kWh, one decimal, with separators (`12,345.6 kWh`).
pub fn kwh(kwh: f64) -> String {
    format!("{} kWh", thousands(kwh, 1))
}

/// Money in dollars with cents and separators (`$12,345.67`, `-$3.20`).
pub fn money(v: f64) -> String {
    let s = thousands(v, 2);
    match s.strip_prefix('-') {
        Some(rest) => format!("-${rest}"),
        None => format!("${s}"),
    }
}

/// A price per unit in dollars to a tenth of a cent (`$0.125/kWh`, `$12.000/kW`).
pub fn rate(v: f64, per: &str) -> String {
    format!("${}/{per}", thousands(v, 3))
}

/// A share of a whole (0–1) as a percentage, to a tenth where it is not whole (`100%`,
/// `37.5%`).
pub fn share(v: f64) -> String {
    let pct = (v * 1000.0).round() / 10.0;
    if pct.fract() == 0.0 {
        format!("{pct:.0}%")
    } else {
        format!("{pct:.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_a_percentage_to_a_tenth_where_not_whole() {
        assert_eq!(share(1.0), "100%");
        assert_eq!(share(0.0), "0%");
        assert_eq!(share(0.375), "37.5%");
        assert_eq!(share(2.0 / 3.0), "66.7%");
    }

    #[test]
    fn power_switches_to_mw_at_a_thousand_kw_with_separators() {
        assert_eq!(kw(12_840.0), "12.84 MW");
        assert_eq!(kw(999.94), "999.9 kW");
        assert_eq!(kw(1_234_567.0), "1,234.57 MW");
        assert_eq!(kw(-10_800.0), "-10.80 MW");
        assert_eq!(kw(0.0), "0.0 kW");
    }

    #[test]
    fn money_and_energy_carry_units_and_separators() {
        assert_eq!(money(1_234_567.891), "$1,234,567.89");
        assert_eq!(money(-3.2), "-$3.20");
        assert_eq!(money(-0.001), "$0.00");
        assert_eq!(kwh(12_345.64), "12,345.6 kWh");
        assert_eq!(rate(0.125, "kWh"), "$0.125/kWh");
        assert_eq!(thousands(999.0, 0), "999");
        assert_eq!(thousands(1000.0, 0), "1,000");
    }
}
