//! How a command answers: pretty JSON with `--json`, else text for people —
//! tables with aligned columns and times in ISO 8601 UTC.

use serde_json::Value;

use crate::domain::UnixTime;

/// Where a command's answer goes, and in which form.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// `value` with `--json`, else `text`.
    pub fn print(self, value: Value, text: String) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            println!("{text}");
        }
        Ok(())
    }
}

/// A time for people: `2026-11-23T09:21:00Z`.
pub fn time(at: UnixTime) -> String {
    at.utc().to_string()
}

/// A time that may be absent, shown as `absent`.
pub fn time_or(at: Option<UnixTime>, absent: &str) -> String {
    at.map_or(absent.to_owned(), time)
}

/// Key times are unix seconds in the key list.
pub fn seconds_time(seconds: i64) -> String {
    time(UnixTime::from_seconds(seconds))
}

pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

/// Rows under headers, each column as wide as its widest cell.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headers.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_lines_end_without_spaces() {
        let text =
            table(&["ID", "NAME"], vec![vec!["a-long-id".into(), "x".into()], vec!["b".into(), "".into()]]);
        assert_eq!(text, "ID         NAME\na-long-id  x\nb");
    }

    #[test]
    fn times_are_iso_8601_utc() {
        assert_eq!(time(UnixTime::from_seconds(1_795_425_661)), "2026-11-23T09:21:01Z");
        assert_eq!(time_or(None, "never"), "never");
    }
}
