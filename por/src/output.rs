//! How every command prints its result: `--output table` (the default, for
//! people) or `--output json` (for programs: one JSON document on stdout).
//! Commands build their result as JSON once; [`render`] turns it into
//! either form, so both always carry the same fields. Logs and progress go
//! to stderr, never into the result.

use serde_json::Value;

/// The form of a command's result on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Output {
    /// Aligned `key  value` rows; a list of records as columns.
    #[default]
    Table,
    /// One pretty-printed JSON document.
    Json,
}

/// `v` in the form `output`, ending with a newline.
pub fn render(output: Output, v: &Value) -> String {
    match output {
        Output::Json => format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())),
        Output::Table => table(v),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        Value::Array(a) if a.is_empty() => "(none)".into(),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            a.iter().map(scalar).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}

fn is_records(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_object))
}

/// Scalars of `v` as dotted keys, and its lists of records apart.
fn flatten<'a>(v: &'a Value, prefix: &str, rows: &mut Vec<(String, String)>, lists: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(x, &key, rows, lists);
            }
        }
        x if is_records(x) => lists.push((prefix.to_string(), x)),
        x => rows.push((prefix.to_string(), scalar(x))),
    }
}

fn records(list: &[Value]) -> String {
    let mut columns: Vec<String> = Vec::new();
    let mut cells: Vec<Vec<(String, String)>> = Vec::new();
    for r in list {
        let mut rows = Vec::new();
        let mut nested = Vec::new();
        flatten(r, "", &mut rows, &mut nested);
        for (k, v) in nested {
            rows.push((k, v.to_string()));
        }
        for (k, _) in &rows {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
        cells.push(rows);
    }
    let value = |row: &[(String, String)], c: &str| {
        row.iter().find(|(k, _)| k == c).map(|(_, v)| v.clone()).unwrap_or_else(|| "-".into())
    };
    let widths: Vec<usize> = columns
        .iter()
        .map(|c| cells.iter().map(|r| value(r, c).chars().count()).max().unwrap_or(0).max(c.chars().count()))
        .collect();
    let line = |items: Vec<String>| {
        let cols: Vec<String> = items.iter().zip(&widths).map(|(s, w)| format!("{s:<w$}")).collect();
        format!("{}\n", cols.join("  ").trim_end())
    };
    let mut out = line(columns.clone());
    for r in &cells {
        out += &line(columns.iter().map(|c| value(r, c)).collect());
    }
    out
}

fn table(v: &Value) -> String {
    if is_records(v) {
        return records(v.as_array().expect("records are an array"));
    }
    if !v.is_object() {
        return format!("{}\n", scalar(v));
    }
    let mut rows = Vec::new();
    let mut lists = Vec::new();
    flatten(v, "", &mut rows, &mut lists);
    let w = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in &rows {
        out += &format!("{k:<w$}  {v}\n");
    }
    for (k, list) in lists {
        out += &format!("\n{k}:\n{}", records(list.as_array().expect("records are an array")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_result_two_forms() {
        let v = json!({
            "status": { "peer_id": "12D3", "peers": 2, "draining": false },
            "channels": [ { "id": 1, "spendable": "10" }, { "id": 2, "spendable": "20", "peer": "b" } ],
            "listen": ["/ip4/1", "/ip4/2"],
            "empty": [],
        });
        let t = render(Output::Table, &v);
        assert!(t.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["status.peer_id", "12D3"]), "{t}");
        assert!(t.lines().any(|l| l.starts_with("listen") && l.ends_with("/ip4/1, /ip4/2")), "{t}");
        assert!(t.lines().any(|l| l.starts_with("empty") && l.ends_with("(none)")), "{t}");
        assert!(t.contains("\nchannels:\nid  spendable  peer\n1   10         -\n2   20         b\n"), "{t}");
        let j: Value = serde_json::from_str(&render(Output::Json, &v)).unwrap();
        assert_eq!(j, v);
    }

    #[test]
    fn keys_line_up() {
        let t = render(Output::Table, &json!({ "api": "http://x", "metrics": "http://y" }));
        assert_eq!(t, "api      http://x\nmetrics  http://y\n");
        assert_eq!(render(Output::Table, &json!("abc")), "abc\n");
    }
}
