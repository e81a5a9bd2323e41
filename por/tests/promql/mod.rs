//! Reading an OpenMetrics exposition and the PromQL of the dashboard, for
//! `observability.rs`: metric families and their kinds, the series names
//! Prometheus derives, and the metrics and labels a query refers to.

use std::collections::{BTreeMap, BTreeSet};

/// A metric family of an OpenMetrics exposition.
#[derive(Debug, Default)]
pub(crate) struct Family {
    pub(crate) kind: String,
    /// Label names seen on its samples (any node).
    pub(crate) labels: BTreeSet<String>,
    /// Samples seen, with their values (any node).
    pub(crate) samples: Vec<(String, f64)>,
}

/// Families by name, from `# TYPE` lines and their sample lines.
/// prometheus-client 0.25 writes HELP and TYPE for an unlabelled metric
/// always, but for a labelled family only once it has a sample: the traffic
/// of [`live_network_with_traffic`] gives every labelled family one.
pub(crate) fn families(texts: &[String]) -> BTreeMap<String, Family> {
    let mut fams: BTreeMap<String, Family> = BTreeMap::new();
    for text in texts {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                fams.entry(name.to_string()).or_default().kind = kind.to_string();
            } else if !line.starts_with('#') && !line.is_empty() {
                let name_end = line.find(['{', ' ']).unwrap();
                let series = &line[..name_end];
                let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
                let family = family_of(series, &fams).unwrap_or_else(|| panic!("sample {series} has no TYPE"));
                let f = fams.get_mut(&family).unwrap();
                if let Some(set) = line[name_end..].strip_prefix('{') {
                    for pair in set.split("\",") {
                        if let Some((k, _)) = pair.split_once('=') {
                            f.labels.insert(k.trim().to_string());
                        }
                    }
                }
                f.samples.push((line[..line.rfind(' ').unwrap()].to_string(), value));
            }
        }
    }
    fams
}

/// Suffixes Prometheus gives the series of each OpenMetrics type.
pub(crate) fn series_suffixes(kind: &str) -> &'static [&'static str] {
    match kind {
        "counter" => &["_total", "_created"],
        "histogram" => &["_bucket", "_sum", "_count", "_created"],
        "summary" => &["", "_sum", "_count", "_created"],
        "info" => &["_info"],
        _ => &[""],
    }
}

/// The family a series name belongs to.
pub(crate) fn family_of(series: &str, fams: &BTreeMap<String, Family>) -> Option<String> {
    fams.iter()
        .find(|(name, f)| series_suffixes(&f.kind).iter().any(|s| series.strip_prefix(name.as_str()) == Some(s)))
        .map(|(name, _)| name.clone())
}

/// Rewrites an OpenMetrics 1.0 exposition in the Prometheus text format
/// 0.0.4, the only format `promtool check metrics` reads, the way Prometheus
/// names the series when it scrapes OpenMetrics: a counter family `x` is the
/// series `x_total`, an info family `x` the gauge `x_info`, `unknown` is
/// `untyped`; `# UNIT` and `# EOF` have no 0.0.4 form. Samples are untouched.
pub(crate) fn to_text_004(openmetrics: &str) -> String {
    let mut types = BTreeMap::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            types.insert(name.to_string(), kind.to_string());
        }
    }
    let mut out = String::new();
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let rewritten = if let Some((tag, rest)) = line
            .strip_prefix("# HELP ")
            .map(|r| ("HELP", r))
            .or_else(|| line.strip_prefix("# TYPE ").map(|r| ("TYPE", r)))
        {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let kind = types.get(name).map(String::as_str).unwrap_or("unknown");
            let (name, tail) = match (kind, tag) {
                ("counter", _) => (format!("{name}_total"), tail.to_string()),
                ("info", "TYPE") => (format!("{name}_info"), "gauge".to_string()),
                ("info", _) => (format!("{name}_info"), tail.to_string()),
                ("unknown", "TYPE") => (name.to_string(), "untyped".to_string()),
                _ => (name.to_string(), tail.to_string()),
            };
            format!("# {tag} {name} {tail}")
        } else {
            line.to_string()
        };
        out.push_str(&rewritten);
        out.push('\n');
    }
    out
}

/// The sum of a family's samples whose series starts with `series_prefix`
/// (0 if the family is not rendered).
pub(crate) fn sample_value(fams: &BTreeMap<String, Family>, family: &str, series_prefix: &str) -> f64 {
    let Some(f) = fams.get(family) else { return 0.0 };
    f.samples.iter().filter(|(s, _)| s.starts_with(series_prefix)).map(|(_, v)| v).sum()
}

// ---------------------------------------------------------------------------
// PromQL: the metric names and label names an expression uses.

pub(crate) const PROMQL_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "inf",
    "nan",
    "Inf",
    "NaN",
    "atan2",
];

/// What one PromQL expression refers to.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Refs {
    pub(crate) metrics: BTreeSet<String>,
    pub(crate) labels: BTreeSet<String>,
}

/// A small PromQL tokenizer: metric names are identifiers not followed by
/// `(` (that is a function or an aggregation) and not keywords; label names
/// come from `{…}` matchers and from `by`/`without`/`on`/`ignoring`/`group_*`
/// lists. Strings, numbers, durations, `[…]` ranges and Grafana variables
/// (`$x`, `${x}`) are skipped.
pub(crate) fn promql_refs(expr: &str) -> Refs {
    let b = expr.as_bytes();
    let mut refs = Refs::default();
    let mut i = 0;
    let ident = |i: usize| {
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b':') {
            j += 1;
        }
        j
    };
    let skip_string = |i: usize| {
        let q = b[i];
        let mut j = i + 1;
        while j < b.len() && b[j] != q {
            j += if b[j] == b'\\' { 2 } else { 1 };
        }
        j + 1
    };
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    // Label names of a `(a, b)` list at `i`; returns the index after `)`.
    let label_list = |i: usize, refs: &mut Refs| {
        let mut j = i + 1;
        while j < b.len() && b[j] != b')' {
            if b[j].is_ascii_alphabetic() || b[j] == b'_' {
                let e = ident(j);
                refs.labels.insert(expr[j..e].to_string());
                j = e;
            } else {
                j += 1;
            }
        }
        j + 1
    };
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            i = skip_string(i);
        } else if c == b'[' {
            while i < b.len() && b[i] != b']' {
                i += 1;
            }
            i += 1;
        } else if c == b'{' {
            // Matchers: name op "value", …
            i += 1;
            while i < b.len() && b[i] != b'}' {
                if b[i] == b'"' || b[i] == b'\'' || b[i] == b'`' {
                    i = skip_string(i);
                } else if b[i].is_ascii_alphabetic() || b[i] == b'_' {
                    let e = ident(i);
                    refs.labels.insert(expr[i..e].to_string());
                    i = e;
                } else {
                    i += 1;
                }
            }
            i += 1;
        } else if c == b'$' {
            i += 1;
            if i < b.len() && b[i] == b'{' {
                while i < b.len() && b[i] != b'}' {
                    i += 1;
                }
                i += 1;
            } else {
                i = ident(i);
            }
        } else if c.is_ascii_digit() || (c == b'.' && i + 1 < b.len() && b[i + 1].is_ascii_digit()) {
            // Numbers, 1e24, durations like 5m.
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'+' && b[i - 1] == b'e') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            let e = ident(i);
            let word = &expr[i..e];
            let next = skip_ws(e);
            // `sum by (…) (…)`: an aggregation whose grouping comes first.
            let grouped = ["by", "without"].contains(&&expr[next..ident(next)]) && !["by", "without"].contains(&word);
            let is_call = next < b.len() && b[next] == b'(' || grouped;
            if ["by", "without", "on", "ignoring", "group_left", "group_right"].contains(&word) {
                i = if next < b.len() && b[next] == b'(' { label_list(next, &mut refs) } else { e };
            } else if is_call || PROMQL_KEYWORDS.contains(&word) {
                i = e;
            } else {
                refs.metrics.insert(word.to_string());
                i = e;
            }
        } else {
            i += 1;
        }
    }
    refs
}

/// Label names Prometheus adds at scrape time (target labels of
/// deploy/prometheus.yml and the compose/k8s scrape configs).
pub(crate) const TARGET_LABELS: &[&str] = &["instance", "job", "node", "network", "pod", "namespace"];

/// Every PromQL query of the dashboard: panel targets and variable queries
/// (`label_values(metric, label)` is rewritten as `metric` plus the label).
pub(crate) fn dashboard_queries(dash: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut panels: Vec<&serde_json::Value> = dash["panels"].as_array().unwrap().iter().collect();
    while let Some(p) = panels.pop() {
        if let Some(inner) = p["panels"].as_array() {
            panels.extend(inner);
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap_or_else(|| panic!("panel {} has a target without expr", p["title"]));
            out.push((p["title"].as_str().unwrap().to_string(), expr.to_string()));
        }
    }
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] == "query" {
            let q = v["query"]["query"].as_str().or(v["query"].as_str()).unwrap();
            let inner = q.strip_prefix("label_values(").and_then(|r| r.strip_suffix(')')).unwrap();
            let (metric, label) = inner.rsplit_once(',').unwrap();
            out.push((format!("variable {}", v["name"]), format!("sum by ({}) ({})", label.trim(), metric.trim())));
        }
    }
    out
}
