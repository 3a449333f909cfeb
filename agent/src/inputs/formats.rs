//! What an input file says, in a form a model can use: text and Markdown as they are,
//! CSV and spreadsheets as a header and rows, JSON pretty-printed, HTML through the same
//! extraction as web pages, PDF as text per page, e-mail as headers, body and attachment
//! names. Long content comes in parts. Pure: bytes in, text out, so each format is
//! tested from small files the tests make.

use std::io::Cursor;

use mail_parser::MimeHeaders;
use serde_json::json;

/// Characters per part of running text.
pub const PART_CHARS: usize = 12_000;
/// Rows per part of a table.
pub const PART_ROWS: usize = 150;

/// The kinds of file errand reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    /// Delimited values (`,` for .csv, tab for .tsv).
    Csv(u8),
    /// xlsx, xlsm, xls, ods.
    Spreadsheet,
    Json,
    Html,
    Pdf,
    Email,
    /// Anything else: listed, but not read.
    Other,
}

impl Format {
    /// The format a file's name (and, for unknown names, its first bytes) says it has.
    pub fn of(name: &str, head: &[u8]) -> Format {
        Format::by_name(name).unwrap_or_else(|| Format::sniff(head))
    }

    /// The format a file's extension names, if it names one errand reads.
    pub fn by_name(name: &str) -> Option<Format> {
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        Some(match ext.as_str() {
            "txt" | "text" | "log" | "rst" | "org" => Format::Text,
            "md" | "markdown" => Format::Markdown,
            "csv" => Format::Csv(b','),
            "tsv" | "tab" => Format::Csv(b'\t'),
            "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => Format::Spreadsheet,
            "json" | "jsonl" | "ndjson" | "geojson" => Format::Json,
            "html" | "htm" | "xhtml" => Format::Html,
            "pdf" => Format::Pdf,
            "eml" => Format::Email,
            _ => return None,
        })
    }

    /// The format of a file without a known extension, from its first bytes.
    pub fn sniff(head: &[u8]) -> Format {
        if head.starts_with(b"%PDF-") {
            return Format::Pdf;
        }
        // Text: no NUL, and valid UTF-8 (a character cut at the end of the head is fine).
        let utf8 = match std::str::from_utf8(head) {
            Ok(_) => true,
            Err(e) => e.error_len().is_none(),
        };
        if !head.contains(&0) && utf8 {
            Format::Text
        } else {
            Format::Other
        }
    }

    /// As the model is told.
    pub fn label(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "Markdown",
            Format::Csv(b'\t') => "TSV",
            Format::Csv(_) => "CSV",
            Format::Spreadsheet => "spreadsheet",
            Format::Json => "JSON",
            Format::Html => "HTML",
            Format::Pdf => "PDF",
            Format::Email => "e-mail",
            Format::Other => "other (not read)",
        }
    }
}

/// A file read: its parts, a title where the file has one, and the whole as Markdown
/// (what is kept and cited as the source: tables as Markdown tables).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub title: String,
    pub parts: Vec<String>,
    pub markdown: String,
}

impl Rendered {
    fn text(title: String, parts: Vec<String>) -> Rendered {
        Rendered { title, markdown: parts.concat(), parts }
    }
}

/// Why a file could not be read as its format.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

/// Read `bytes` as `format`. `name` names the file in titles.
pub fn render(format: Format, bytes: &[u8], name: &str) -> Result<Rendered, FormatError> {
    let untitled = |parts| Ok(Rendered::text(String::new(), parts));
    match format {
        Format::Text | Format::Markdown => untitled(text_parts(&String::from_utf8_lossy(bytes))),
        Format::Json => json_text(bytes).map(|t| Rendered::text(String::new(), text_parts(&t))),
        Format::Csv(delimiter) => {
            let rows = csv_rows(bytes, delimiter)?;
            Ok(Rendered { title: String::new(), parts: table_parts(&rows, ""), markdown: table_markdown(&rows) })
        }
        Format::Spreadsheet => spreadsheet(bytes),
        Format::Html => html(bytes, name),
        Format::Pdf => untitled(pdf(bytes)?),
        Format::Email => email(bytes),
        Format::Other => {
            Err(FormatError(format!("{name} is not a format errand reads (text, Markdown, CSV, TSV, spreadsheets, JSON, HTML, PDF, .eml)")))
        }
    }
}

/// Running text cut into parts at line ends (or anywhere, for a line longer than a part).
pub fn text_parts(text: &str) -> Vec<String> {
    let mut parts = vec![];
    let mut cur = String::new();
    for line in text.split_inclusive('\n') {
        if cur.len() + line.len() > PART_CHARS && !cur.is_empty() {
            parts.push(std::mem::take(&mut cur));
        }
        let mut rest = line;
        while rest.len() > PART_CHARS {
            let mut cut = PART_CHARS;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            parts.push(rest[..cut].to_string());
            rest = &rest[cut..];
        }
        cur.push_str(rest);
    }
    if !cur.is_empty() || parts.is_empty() {
        parts.push(cur);
    }
    parts
}

fn json_text(bytes: &[u8]) -> Result<String, FormatError> {
    let text = String::from_utf8_lossy(bytes);
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => Ok(serde_json::to_string_pretty(&v).unwrap_or_else(|_| text.to_string())),
        // JSON Lines: one value per line, each checked.
        Err(e) => {
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            if lines.len() > 1 && lines.iter().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()) {
                Ok(text.to_string())
            } else {
                Err(FormatError(format!("not valid JSON: {e}")))
            }
        }
    }
}

fn csv_rows(bytes: &[u8], delimiter: u8) -> Result<Vec<Vec<String>>, FormatError> {
    let mut r = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(bytes);
    let mut rows = vec![];
    for (i, rec) in r.byte_records().enumerate() {
        let rec = rec.map_err(|e| FormatError(format!("not valid CSV at row {}: {e}", i + 1)))?;
        rows.push(rec.iter().map(|f| String::from_utf8_lossy(f).trim().to_string()).collect());
    }
    Ok(rows)
}

/// A table as parts of at most [`PART_ROWS`] rows, each with the header (the first
/// non-empty row) and which rows it holds.
pub fn table_parts(rows: &[Vec<String>], sheet: &str) -> Vec<String> {
    let rows: Vec<&Vec<String>> = rows.iter().filter(|r| r.iter().any(|c| !c.is_empty())).collect();
    let Some((header, body)) = rows.split_first() else {
        return vec![if sheet.is_empty() { "(no rows)".to_string() } else { format!("sheet {sheet:?}: (no rows)") }];
    };
    let total = body.len();
    let chunks: Vec<&[&Vec<String>]> = if body.is_empty() { vec![&[]] } else { body.chunks(PART_ROWS).collect() };
    let mut first = 1;
    chunks
        .into_iter()
        .map(|chunk| {
            let mut v = json!({"header": header, "rows": chunk});
            if !sheet.is_empty() {
                v["sheet"] = json!(sheet);
            }
            let last = first + chunk.len() - 1;
            v["rows_shown"] = json!(if chunk.is_empty() { format!("0 of {total}") } else { format!("{first}-{last} of {total}") });
            first = last + 1;
            serde_json::to_string(&v).unwrap_or_default()
        })
        .collect()
}

/// A table as a Markdown table (the first non-empty row as its header).
pub fn table_markdown(rows: &[Vec<String>]) -> String {
    let rows: Vec<&Vec<String>> = rows.iter().filter(|r| r.iter().any(|c| !c.is_empty())).collect();
    let Some(width) = rows.iter().map(|r| r.len()).max() else { return String::new() };
    let cell = |c: &str| c.replace('|', "\\|").replace('\n', " ");
    let line = |r: &Vec<String>| {
        let cells: Vec<String> = (0..width).map(|i| cell(r.get(i).map(String::as_str).unwrap_or(""))).collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        out.push_str(&line(r));
        if i == 0 {
            out.push_str(&format!("|{}\n", " --- |".repeat(width)));
        }
    }
    out
}

fn spreadsheet(bytes: &[u8]) -> Result<Rendered, FormatError> {
    use calamine::Reader;
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|e| FormatError(format!("not a spreadsheet errand can read: {e}")))?;
    let mut parts = vec![];
    let mut markdown = String::new();
    for name in book.sheet_names() {
        let range = book.worksheet_range(&name).map_err(|e| FormatError(format!("sheet {name:?} cannot be read: {e}")))?;
        let rows: Vec<Vec<String>> = range.rows().map(|r| r.iter().map(|c| c.to_string().trim().to_string()).collect()).collect();
        parts.extend(table_parts(&rows, &name));
        markdown.push_str(&format!("## {name}\n\n{}\n", table_markdown(&rows)));
    }
    if parts.is_empty() {
        parts.push("(no sheets)".into());
    }
    Ok(Rendered { title: String::new(), parts, markdown })
}

fn html(bytes: &[u8], name: &str) -> Result<Rendered, FormatError> {
    let page = String::from_utf8_lossy(bytes);
    // The file's own name stands in for a URL: links in it resolve to nothing.
    let base = format!("file:///{}", name.trim_start_matches('/'));
    match browser::extract::article(&page, &base) {
        Some(a) if !a.markdown.trim().is_empty() => Ok(Rendered::text(a.title, text_parts(&a.markdown))),
        _ => Ok(Rendered::text(String::new(), text_parts(&browser::extract::plain_text(&page)))),
    }
}

fn pdf(bytes: &[u8]) -> Result<Vec<String>, FormatError> {
    // pdf-extract panics on some malformed files: a hostile PDF must not end the run.
    let pages = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| FormatError("not a PDF errand can read (the PDF reader failed on it)".into()))?
        .map_err(|e| FormatError(format!("not a PDF errand can read: {e}")))?;
    let mut text = String::new();
    for (i, p) in pages.iter().enumerate() {
        text.push_str(&format!("--- page {} of {} ---\n{}\n", i + 1, pages.len(), p.trim()));
    }
    Ok(text_parts(&text))
}

fn email(bytes: &[u8]) -> Result<Rendered, FormatError> {
    let m =
        mail_parser::MessageParser::default().parse(bytes).ok_or_else(|| FormatError("not an e-mail message errand can read".into()))?;
    let people = |a: Option<&mail_parser::Address>| {
        a.map(|a| {
            a.iter()
                .map(|x| match (x.name(), x.address()) {
                    (Some(n), Some(e)) => format!("{n} <{e}>"),
                    (None, Some(e)) => e.to_string(),
                    (Some(n), None) => n.to_string(),
                    (None, None) => String::new(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
    };
    let subject = m.subject().unwrap_or_default().to_string();
    let mut text = format!(
        "From: {}\nTo: {}\nCc: {}\nDate: {}\nSubject: {subject}\n",
        people(m.from()),
        people(m.to()),
        people(m.cc()),
        m.date().map(|d| d.to_rfc3339()).unwrap_or_default()
    );
    let names: Vec<String> = m.attachments().map(|a| a.attachment_name().unwrap_or("(unnamed)").to_string()).collect();
    if !names.is_empty() {
        text.push_str(&format!("Attachments (not read): {}\n", names.join(", ")));
    }
    text.push('\n');
    match m.body_text(0) {
        Some(b) => text.push_str(&b),
        None => {
            if let Some(h) = m.body_html(0) {
                text.push_str(&browser::extract::plain_text(&h));
            }
        }
    }
    Ok(Rendered::text(subject, text_parts(&text)))
}
