//! Reading FHIR R4 input files into the clinical payload format: one JSON document per
//! line (a Resource or a Bundle), the form sealed into a snapshot and read by the mapper.
//!
//! Input files may be a Bundle, a single resource (`.json`), or Bulk-Data NDJSON (`.ndjson`:
//! one resource per line); directories are read recursively in sorted order, taking `.json`
//! and `.ndjson` files only. Every document must be a JSON object with a string
//! `resourceType`; anything else rejects the whole input with the file and line named.

use std::path::{Path, PathBuf};

/// Largest single input file read.
pub(crate) const MAX_INPUT_FILE: u64 = 512 * 1024 * 1024;
/// Largest clinical payload assembled.
pub(crate) const MAX_PAYLOAD: usize = 1024 * 1024 * 1024;

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// An input file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An input file is larger than 512 MiB.
    #[error("{path}: file larger than {MAX_INPUT_FILE} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A file (or an NDJSON line) is not valid JSON.
    #[error("{path}{}: not valid JSON: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Json {
        /// The file.
        path: PathBuf,
        /// The NDJSON line, counted from 1; `None` for a whole-file JSON document.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// Valid JSON, but not a FHIR resource (no `resourceType` string).
    #[error("{path}{}: not a FHIR resource (a JSON object with a \"resourceType\" string)", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    NotFhir {
        /// The file.
        path: PathBuf,
        /// The NDJSON line, counted from 1; `None` for a whole-file JSON document.
        line: Option<usize>,
    },
    /// No .json or .ndjson file was found.
    #[error("no .json or .ndjson files found in the input")]
    Empty,
    /// The input files together exceed 1 GiB.
    #[error("input larger than {MAX_PAYLOAD} bytes in total")]
    PayloadTooLarge,
}

/// Lists the input files: files as given, directories expanded (sorted, recursive).
pub(crate) fn list_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut out = Vec::new();
    for p in inputs {
        walk(p, true, &mut out)?;
    }
    if out.is_empty() {
        return Err(InputError::Empty);
    }
    Ok(out)
}

fn walk(p: &Path, explicit: bool, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let io = |source| InputError::Io {
        path: p.to_owned(),
        source,
    };
    let meta = std::fs::metadata(p).map_err(io)?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(io)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io)?;
        entries.sort();
        for e in entries {
            walk(&e, false, out)?;
        }
    } else if explicit || is_fhir_name(p) {
        out.push(p.to_owned());
    }
    Ok(())
}

fn is_fhir_name(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("json") | Some("ndjson")
    )
}

/// One parsed input document with where it came from.
#[derive(Debug)]
pub struct Document {
    /// The file it was read from.
    pub path: PathBuf,
    /// The NDJSON line, counted from 1; `None` when the file is one JSON document.
    pub line: Option<usize>,
    /// The parsed resource (a Bundle or a single resource).
    pub value: serde_json::Value,
}

/// Reads and parses all input documents.
pub fn read_documents(inputs: &[PathBuf]) -> Result<Vec<Document>, InputError> {
    let mut docs = Vec::new();
    for path in list_files(inputs)? {
        let meta = std::fs::metadata(&path).map_err(|source| InputError::Io {
            path: path.clone(),
            source,
        })?;
        if meta.len() > MAX_INPUT_FILE {
            return Err(InputError::TooLarge { path });
        }
        let bytes = std::fs::read(&path).map_err(|source| InputError::Io {
            path: path.clone(),
            source,
        })?;
        let ndjson = path.extension().and_then(|e| e.to_str()) == Some("ndjson");
        parse_bytes(&bytes, &path, ndjson, &mut docs)?;
    }
    Ok(docs)
}

/// Parses one file's bytes: a single JSON document, or NDJSON when `ndjson`.
pub(crate) fn parse_bytes(
    bytes: &[u8],
    path: &Path,
    ndjson: bool,
    docs: &mut Vec<Document>,
) -> Result<(), InputError> {
    if ndjson {
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let line_trim = line.trim_ascii();
            if line_trim.is_empty() {
                continue;
            }
            let value = parse_one(line_trim, path, Some(i + 1))?;
            docs.push(Document {
                path: path.to_owned(),
                line: Some(i + 1),
                value,
            });
        }
    } else {
        let value = parse_one(bytes, path, None)?;
        docs.push(Document {
            path: path.to_owned(),
            line: None,
            value,
        });
    }
    Ok(())
}

fn parse_one(
    bytes: &[u8],
    path: &Path,
    line: Option<usize>,
) -> Result<serde_json::Value, InputError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| InputError::Json {
        path: path.to_owned(),
        line,
        message: e.to_string(),
    })?;
    match value.get("resourceType") {
        Some(serde_json::Value::String(_)) => Ok(value),
        _ => Err(InputError::NotFhir {
            path: path.to_owned(),
            line,
        }),
    }
}

/// Builds the clinical payload (compact NDJSON, one document per line) from input paths.
pub fn collect_payload(inputs: &[PathBuf]) -> Result<Vec<u8>, InputError> {
    let docs = read_documents(inputs)?;
    to_payload(&docs)
}

/// Serialises documents as the clinical payload.
pub(crate) fn to_payload(docs: &[Document]) -> Result<Vec<u8>, InputError> {
    let mut out = Vec::new();
    for d in docs {
        // serde_json output of a Value never contains a raw newline.
        serde_json::to_writer(&mut out, &d.value).map_err(|e| InputError::Json {
            path: d.path.clone(),
            line: d.line,
            message: e.to_string(),
        })?;
        out.push(b'\n');
        if out.len() > MAX_PAYLOAD {
            return Err(InputError::PayloadTooLarge);
        }
    }
    Ok(out)
}

/// Parses a clinical payload (from a snapshot) into trees borrowed from it, one per line,
/// with the same checks and errors as [`parse_payload`].
pub(crate) fn parse_payload_borrowed(
    payload: &[u8],
) -> Result<Vec<super::tree::Value<'_>>, InputError> {
    let path = Path::new("<snapshot>");
    let mut docs = Vec::new();
    let mut scratch = super::tree::Scratch::default();
    for (i, line) in payload.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let value =
            super::tree::Value::parse_with(line, &mut scratch).map_err(|e| InputError::Json {
                path: path.to_owned(),
                line: Some(i + 1),
                message: e.to_string(),
            })?;
        if !value
            .get("resourceType")
            .is_some_and(super::tree::Value::is_string)
        {
            return Err(InputError::NotFhir {
                path: path.to_owned(),
                line: Some(i + 1),
            });
        }
        docs.push(value);
    }
    Ok(docs)
}

/// Parses a clinical payload (from a snapshot) back into documents.
pub fn parse_payload(payload: &[u8]) -> Result<Vec<Document>, InputError> {
    let mut docs = Vec::new();
    parse_bytes(payload, Path::new("<snapshot>"), true, &mut docs)?;
    Ok(docs)
}
