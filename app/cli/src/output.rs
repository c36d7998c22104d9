//! How results are printed: aligned tables and key/value lists for people,
//! stable JSON for programs.

use clap::ValueEnum;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Display,
    Json,
    JsonCompact,
}

/// A command's result: its JSON, and how to show it to a person.
pub struct Output {
    pub json: Value,
    pub human: Human,
}

pub enum Human {
    /// Label / value lines.
    Fields(Vec<(String, String)>),
    Table(Table),
    /// Several sections, printed one after another.
    Sections(Vec<(String, Human)>),
}

impl Output {
    pub fn print(&self, format: OutputFormat) {
        print!("{}", self.render(format));
    }

    pub fn render(&self, format: OutputFormat) -> String {
        match format {
            OutputFormat::Json => format!(
                "{}\n",
                serde_json::to_string_pretty(&self.json).expect("JSON serialises")
            ),
            OutputFormat::JsonCompact => format!("{}\n", self.json),
            OutputFormat::Display => self.human.render(),
        }
    }
}

impl Human {
    pub fn render(&self) -> String {
        match self {
            Human::Fields(fields) => {
                // The widest label plus its colon.
                let width = fields.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
                fields
                    .iter()
                    .map(|(k, v)| format!("{:<width$}  {v}\n", format!("{k}:")))
                    .collect()
            }
            Human::Table(table) => table.render(),
            Human::Sections(sections) => sections
                .iter()
                .map(|(title, body)| {
                    if title.is_empty() {
                        body.render()
                    } else {
                        format!("{title}\n{}", body.render())
                    }
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

pub fn fields(pairs: &[(&str, String)]) -> Human {
    Human::Fields(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

/// Columns sized to their widest cell; numbers are right-aligned.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    empty: &'static str,
}

impl Table {
    pub fn new(headers: Vec<&'static str>, empty: &'static str) -> Self {
        Self {
            headers,
            rows: Vec::new(),
            empty,
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        if self.rows.is_empty() {
            return format!("{}\n", self.empty);
        }
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                    .chain([self.headers[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric = |i: usize| {
            self.rows.iter().all(|r| {
                r.get(i).is_some_and(|c| {
                    c.starts_with(|ch: char| ch.is_ascii_digit() || ch == '$')
                        && !c.contains(char::is_whitespace)
                })
            })
        };
        let line = |cells: Vec<&str>| {
            let text: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if numeric(i) {
                        format!("{c:>w$}", w = widths[i])
                    } else {
                        format!("{c:<w$}", w = widths[i])
                    }
                })
                .collect();
            format!("{}\n", text.join("  ").trim_end())
        };
        let mut out = line(self.headers.clone());
        for row in &self.rows {
            out += &line(row.iter().map(String::as_str).collect());
        }
        out
    }
}

/// A pubkey shortened for tables: first and last four characters.
pub fn short(key: &impl ToString) -> String {
    let text = key.to_string();
    if text.len() <= 11 {
        return text;
    }
    format!("{}..{}", &text[..4], &text[text.len() - 4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_align_values() {
        let human = fields(&[("A", "1".into()), ("Longer", "2".into())]);
        assert_eq!(human.render(), "A:       1\nLonger:  2\n");
    }

    #[test]
    fn tables_align_columns() {
        let mut table = Table::new(vec!["NAME", "PRICE"], "none");
        table.row(vec!["a".into(), "$2.00".into()]);
        table.row(vec!["long name".into(), "$10.00".into()]);
        assert_eq!(
            table.render(),
            "NAME        PRICE\na           $2.00\nlong name  $10.00\n"
        );
        assert_eq!(Table::new(vec!["X"], "no rows").render(), "no rows\n");
    }
}
