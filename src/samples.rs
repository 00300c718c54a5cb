//! Frozen wire samples: records of past versions kept as files, replayed by
//! a test through today's types, so a change that stops old records from
//! decoding fails CI instead of a consumer in production.
//!
//! # The workflow
//!
//! 1. Before a type moves to a new version, freeze a few records of the
//!    version it has now: [`freeze`] writes each one (payload, key and the
//!    headers a producer would write) as a small JSON file. A test that
//!    does it when asked keeps this one command:
//!
//!    ```no_run
//!    # use kafka_codec::KafkaMessage;
//!    # #[derive(serde::Serialize, serde::Deserialize, KafkaMessage)]
//!    # #[kafka(version = 1)]
//!    # struct Order { id: u32 }
//!    #[test]
//!    #[ignore = "run by hand before a version bump"]
//!    fn freeze_orders() {
//!        let orders = [Order { id: 1 }, Order { id: 2 }];
//!        kafka_codec::samples::freeze("tests/fixtures/wire/order", &orders).unwrap();
//!    }
//!    ```
//!
//!    `cargo test --test wire_samples -- --ignored freeze_orders`, then
//!    commit the files under `tests/fixtures/wire/order/`.
//! 2. Bump the version and write the upcast step (see [`crate::version`]).
//! 3. A test replays every frozen sample through today's type, with
//!    [`replay`]: it fails, naming each file, if one no longer decodes.
//!
//!    ```no_run
//!    # use kafka_codec::KafkaMessage;
//!    # #[derive(serde::Serialize, serde::Deserialize, KafkaMessage)]
//!    # struct Order { id: u32 }
//!    #[test]
//!    fn old_orders_still_decode() {
//!        let orders = kafka_codec::samples::replay::<Order>("tests/fixtures/wire/order").unwrap();
//!        assert!(orders.iter().all(|(_, order)| order.id > 0));
//!    }
//!    ```
//!
//! Records written by other programs (a Python producer without version
//! headers, say) are frozen the same way: [`Sample::new`] takes the bytes
//! and headers as they were.
//!
//! # The file format
//!
//! One record per `.json` file, readable in a diff:
//!
//! ```json
//! {
//!   "headers": [["content-type", "application/json"], ["ce_type", "Order"], ["ce_schemaversion", "1"]],
//!   "key": "42",
//!   "payload": "{\"id\":42}"
//! }
//! ```
//!
//! Keys, payloads and header values are written as text when they are UTF-8,
//! else as `{"hex": "..."}`; `null` is no value.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::codec::{Hints, KafkaCodec};
use crate::error::{Error, ErrorKind, Result};
use crate::{headers, KafkaMessage};

/// One record as it was on the wire: its headers, key and payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sample {
    /// The headers, in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// The record key.
    pub key: Option<Vec<u8>>,
    /// The record value.
    pub payload: Vec<u8>,
}

impl Sample {
    /// A record as another program wrote it.
    pub fn new(
        headers: Vec<(String, Option<Vec<u8>>)>,
        key: Option<Vec<u8>>,
        payload: Vec<u8>,
    ) -> Self {
        Sample {
            headers,
            key,
            payload,
        }
    }

    /// The record a producer sends for `value` with its default codec: the
    /// payload, the key, and the `content-type`, `ce_type` and
    /// `ce_schemaversion` headers.
    pub fn of<T: KafkaMessage>(value: &T) -> Result<Self> {
        Self::of_with(value, &T::Codec::default())
    }

    /// [`Sample::of`] with another codec.
    pub fn of_with<T: KafkaMessage, C: KafkaCodec<T> + ?Sized>(
        value: &T,
        codec: &C,
    ) -> Result<Self> {
        let mut payload = Vec::new();
        value.encode_with(codec, &mut payload)?;
        let mut key = Vec::new();
        let key = value.write_key(&mut key).then_some(key);
        let mut hs = vec![
            (
                headers::CONTENT_TYPE.to_owned(),
                Some(codec.content_type().as_bytes().to_vec()),
            ),
            (
                headers::TYPE.to_owned(),
                Some(value.type_name().as_bytes().to_vec()),
            ),
        ];
        if let Some(v) = value.version() {
            hs.push((
                headers::VERSION.to_owned(),
                Some(v.to_string().into_bytes()),
            ));
        }
        Ok(Sample {
            headers: hs,
            key,
            payload,
        })
    }

    /// The first value of header `name`, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        let (_, value) = self.headers.iter().find(|(n, _)| n == name)?;
        std::str::from_utf8(value.as_deref()?).ok()
    }

    /// What the headers say about the payload, as a consumer reads them.
    pub fn hints(&self) -> Hints<'_> {
        Hints::record(
            self.header(headers::CONTENT_TYPE),
            self.header(headers::TYPE),
            self.header(headers::VERSION),
        )
    }

    /// Decodes the payload as a consumer of `T` with its default codec
    /// would, headers included.
    pub fn decode<T: KafkaMessage>(&self) -> Result<T> {
        self.decode_with(&T::Codec::default())
    }

    /// [`Sample::decode`] with another codec.
    pub fn decode_with<T: KafkaMessage, C: KafkaCodec<T> + ?Sized>(&self, codec: &C) -> Result<T> {
        T::decode_with(codec, &self.payload, &self.hints())
    }

    /// The sample as the text of its file: one header per line.
    pub fn to_json(&self) -> String {
        let json = |data: Option<Data>| serde_json::to_string(&data).unwrap_or_default();
        let mut text = String::from("{\n  \"headers\": [");
        for (i, (name, value)) in self.headers.iter().enumerate() {
            text.push_str(if i == 0 { "\n    [" } else { ",\n    [" });
            text.push_str(&serde_json::to_string(name).unwrap_or_default());
            text.push_str(", ");
            text.push_str(&json(value.as_deref().map(Data::of)));
            text.push(']');
        }
        if !self.headers.is_empty() {
            text.push_str("\n  ");
        }
        text.push_str("],\n  \"key\": ");
        text.push_str(&json(self.key.as_deref().map(Data::of)));
        text.push_str(",\n  \"payload\": ");
        text.push_str(&json(Some(Data::of(&self.payload))));
        text.push_str("\n}\n");
        text
    }

    /// A sample from the text of its file.
    pub fn from_json(text: &str) -> Result<Self> {
        let file: File = serde_json::from_str(text)
            .map_err(|e| Error::new(ErrorKind::Other(format!("not a wire sample: {e}").into())))?;
        let mut headers = Vec::with_capacity(file.headers.len());
        for (name, value) in file.headers {
            headers.push((name, value.map(Data::into_bytes).transpose()?));
        }
        Ok(Sample {
            headers,
            key: file.key.map(Data::into_bytes).transpose()?,
            payload: file.payload.into_bytes()?,
        })
    }

    /// Reads a sample file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| io(path, &e))?;
        Self::from_json(&text).map_err(|e| {
            Error::new(ErrorKind::Other(
                format!("{}: {}", path.display(), e.kind()).into(),
            ))
        })
    }

    /// Writes the sample file, making the directory if needed.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, &e))?;
        }
        std::fs::write(path, self.to_json()).map_err(|e| io(path, &e))
    }
}

/// Freezes `values` as sample files in `dir`, named
/// `{type}-v{version}-{n}.json` (`{type}-{n}.json` without a version), and
/// returns their paths. Files of the same names are replaced; others are
/// left alone.
pub fn freeze<T: KafkaMessage>(dir: impl AsRef<Path>, values: &[T]) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let mut paths = Vec::with_capacity(values.len());
    for (n, value) in values.iter().enumerate() {
        let name = match value.version() {
            Some(v) => format!("{}-v{v}-{n}.json", value.type_name()),
            None => format!("{}-{n}.json", value.type_name()),
        };
        let path = dir.join(name);
        Sample::of(value)?.write(&path)?;
        paths.push(path);
    }
    Ok(paths)
}

/// Decodes every sample file (`*.json`) in `dir` as a consumer of `T`
/// would, in file name order. Fails if the directory holds no sample, or
/// with every file that did not decode and why.
pub fn replay<T: KafkaMessage>(
    dir: impl AsRef<Path>,
) -> std::result::Result<Vec<(PathBuf, T)>, ReplayError> {
    let dir = dir.as_ref();
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) => {
            return Err(ReplayError {
                failures: vec![(dir.to_owned(), io(dir, &e))],
            })
        }
    };
    paths.sort();
    if paths.is_empty() {
        return Err(ReplayError {
            failures: vec![(
                dir.to_owned(),
                Error::new(ErrorKind::Other("no wire samples (*.json) here".into())),
            )],
        });
    }
    let mut decoded = Vec::with_capacity(paths.len());
    let mut failures = Vec::new();
    for path in paths {
        match Sample::read(&path).and_then(|s| s.decode::<T>()) {
            Ok(value) => decoded.push((path, value)),
            Err(e) => failures.push((path, e)),
        }
    }
    if failures.is_empty() {
        Ok(decoded)
    } else {
        Err(ReplayError { failures })
    }
}

/// The samples [`replay`] could not decode: each file with its error.
#[derive(Debug)]
pub struct ReplayError {
    /// Each failing file (or the directory itself), with why.
    pub failures: Vec<(PathBuf, Error)>,
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} wire sample(s) did not decode:", self.failures.len())?;
        for (path, e) in &self.failures {
            write!(f, "\n  {}: {e}", path.display())?;
        }
        Ok(())
    }
}

impl std::error::Error for ReplayError {}

fn io(path: &Path, e: &std::io::Error) -> Error {
    Error::new(ErrorKind::Other(format!("{}: {e}", path.display()).into()))
}

/// A sample file.
#[derive(Serialize, Deserialize)]
struct File {
    headers: Vec<(String, Option<Data>)>,
    key: Option<Data>,
    payload: Data,
}

/// Bytes: as text when UTF-8, else as hex.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Data {
    Text(String),
    Hex { hex: String },
}

impl Data {
    fn of(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Data::Text(text.to_owned()),
            Err(_) => Data::Hex {
                hex: bytes.iter().fold(String::new(), |mut hex, b| {
                    use std::fmt::Write as _;
                    // Writing to a String cannot fail.
                    let _ = write!(hex, "{b:02x}");
                    hex
                }),
            },
        }
    }

    fn into_bytes(self) -> Result<Vec<u8>> {
        match self {
            Data::Text(text) => Ok(text.into_bytes()),
            Data::Hex { hex } => {
                let bad = || Error::new(ErrorKind::Other(format!("`{hex}` is not hex").into()));
                if hex.len() % 2 != 0 {
                    return Err(bad());
                }
                (0..hex.len())
                    .step_by(2)
                    .map(|i| {
                        hex.get(i..i + 2)
                            .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                            .ok_or_else(bad)
                    })
                    .collect()
            }
        }
    }
}
