//! CSV files people open in spreadsheets. A cell that begins with `=`, `+`, `-`, `@`, a tab
//! or a carriage return is read by spreadsheets as a formula; a customer name arriving
//! through an enrollment could otherwise run one on an auditor's machine. Such cells get a
//! leading apostrophe (the usual defence: the spreadsheet shows the text as typed). Numbers
//! (`-3.5`) are left as they are. Every CSV export writes its records through [`safe`].

use std::borrow::Cow;

/// A cell as it may be written to a CSV file.
pub fn cell(value: &str) -> Cow<'_, str> {
    let risky = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && value.parse::<f64>().is_err() {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// A record's cells, each made safe with [`cell`].
pub fn safe<I, T>(record: I) -> Vec<String>
where
    I: IntoIterator<Item = T>,
    T: AsRef<str>,
{
    record
        .into_iter()
        .map(|v| cell(v.as_ref()).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_numbers_and_text_kept() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+1+cmd|' /C calc'!A0"), "'+1+cmd|' /C calc'!A0");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("\t=1"), "'\t=1");
        assert_eq!(cell("-3.5"), "-3.5");
        assert_eq!(cell("+12"), "+12");
        assert_eq!(cell("Ana Lopez"), "Ana Lopez");
        assert_eq!(cell(""), "");
        assert_eq!(safe(["=1", "2"]), vec!["'=1".to_string(), "2".to_string()]);
    }
}
