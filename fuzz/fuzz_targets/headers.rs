//! What a consumer does with a record's headers, from raw bytes: the
//! `content-type` and `ce_type` header values are checked for UTF-8 (as the
//! consumer does; that code is private to `kafka::consumer` and needs an
//! rdkafka message, so it is mirrored here), matched with
//! `same_media_type`/`accepts`, and passed as hints to
//! `<Box<dyn Entity>>::decode_with` for the built-in codecs and for a
//! `Codecs` set behind a codec that hides the fast path (typetag), and to
//! `Codecs::decode_hinted` for plain types. `json_leading_tag` is fuzzed
//! with arbitrary tag keys.
//!
//! Input: `[content-type 0xFF [ce_type 0xFF [tag-key 0xFF]]] payload` (0xFF
//! never occurs in UTF-8); missing parts are absent headers.
//!
//! Invariants: no panic; `same_media_type` is reflexive, symmetric, and
//! ignores ASCII case, parameters and surrounding white space; a codec
//! accepts exactly the content types with its media type; every decode error
//! carries the payload; a decoded entity agrees with the type header and the
//! payload's tag; `Codecs` picks the codec the content type names;
//! `json_leading_tag` returns a string from inside the payload, without
//! quotes or escapes, equal to the first top-level value of that key.
#![no_main]

use kafka_codec::codec::{same_media_type, Codecs, Hints, Utf8};
use kafka_codec::poly::{json_leading_tag, scan_tag};
use kafka_codec::{ErrorKind, Json, KafkaCodec, KafkaMessage, MsgPack};
use libfuzzer_sys::fuzz_target;

mod common;
mod poly_common;
use kafka_codec_sample as sample;

use common::{check_decode_err, lenient};
use poly_common::check_poly;
use sample::Entity;

/// Tag keys compared against the full scan (which needs a `'static` key).
const KEYS: [&str; 6] = ["type", "kind", "@type", "", "t", "tÿpe"];

fuzz_target!(|data: &[u8]| {
    let parts: Vec<&[u8]> = data.splitn(4, |&b| b == 0xff).collect();
    let (ct_raw, ty_raw, key_raw, payload) = match parts[..] {
        [payload] => (None, None, &b""[..], payload),
        [ct, payload] => (Some(ct), None, &b""[..], payload),
        [ct, ty, payload] => (Some(ct), Some(ty), &b""[..], payload),
        [ct, ty, key, payload] => (Some(ct), Some(ty), key, payload),
        _ => unreachable!("splitn(4) yields 1 to 4 parts"),
    };

    // Header values: UTF-8 or a header error, as in the consumer.
    let ct = ct_raw.map(std::str::from_utf8);
    let ty = ty_raw.map(std::str::from_utf8);
    let (Some(Ok(_)) | None, Some(Ok(_)) | None) = (&ct, &ty) else {
        return; // the consumer stops here with ErrorKind::Header
    };
    let ct = ct.and_then(Result::ok);
    let ty = ty.and_then(Result::ok);

    if let Some(ct) = ct {
        media_types(
            ct,
            std::str::from_utf8(key_raw).unwrap_or("application/json"),
        );
    }
    leading_tags(key_raw, payload);

    let hints = Hints::new(ct, ty);
    let json_leading = json_leading_tag(payload, "type");
    check_poly(&Json::new(), payload, hints, json_leading);
    check_poly(&MsgPack::new(), payload, hints, None);
    user_codec(payload, hints);
    plain_codecs(payload, ct);
});

fn media_types(a: &str, b: &str) {
    assert!(same_media_type(a, a));
    assert_eq!(same_media_type(a, b), same_media_type(b, a));
    assert!(same_media_type(a, &a.to_ascii_uppercase()));
    assert!(same_media_type(a, &a.to_ascii_lowercase()));
    assert!(same_media_type(a, &format!("{a};charset=utf-8")));
    assert!(same_media_type(a, &format!(" {a}")));
    for (codec_ct, accepts) in [
        (
            Json::CONTENT_TYPE,
            KafkaCodec::<u8>::accepts(&Json::new(), a),
        ),
        (
            MsgPack::CONTENT_TYPE,
            KafkaCodec::<u8>::accepts(&MsgPack::new(), a),
        ),
        (Utf8::CONTENT_TYPE, Utf8::default().accepts(a)),
    ] {
        assert_eq!(accepts, same_media_type(codec_ct, a), "{codec_ct} vs {a:?}");
    }
    // The essence as a reference: trimmed text before the first `;`.
    let essence = |s: &str| {
        s.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    assert_eq!(same_media_type(a, b), essence(a) == essence(b));
}

fn leading_tags(key_raw: &[u8], payload: &[u8]) {
    // Arbitrary keys: no panic, and a tag from inside the payload.
    let key = String::from_utf8_lossy(key_raw);
    for key in [&*key, "type"] {
        if let Some(tag) = json_leading_tag(payload, key) {
            assert!(!tag.contains(['"', '\\']), "{tag:?}");
            let offset = tag.as_ptr() as usize - payload.as_ptr() as usize;
            assert!(offset + tag.len() <= payload.len());
        }
    }
    // A known key: the leading tag is the first top-level value of the key.
    let key = KEYS[key_raw.len() % KEYS.len()];
    if let Some(tag) = json_leading_tag(payload, key) {
        if serde_json::from_slice::<serde_json::Value>(payload).is_ok() {
            let scanned = scan_tag(&mut serde_json::Deserializer::from_slice(payload), key);
            match scanned {
                Ok(Some(s)) => assert_eq!(s, tag, "leading tag and scan disagree for key {key:?}"),
                Ok(None) => panic!("leading tag {tag:?} for key {key:?} but the scan finds none"),
                Err(e) => panic!("leading tag {tag:?} but the scan fails: {e}"),
            }
        }
    }
}

/// `Codecs` of JSON and MessagePack behind a codec that hides the fast
/// path: trait objects decode through typetag.
struct Typetag(Codecs<Box<dyn Entity>>);

impl KafkaCodec<Box<dyn Entity>> for Typetag {
    fn content_type(&self) -> &str {
        self.0.content_type()
    }
    fn encode(&self, value: &Box<dyn Entity>, buf: &mut Vec<u8>) -> kafka_codec::Result<()> {
        self.0.encode(value, buf)
    }
    fn decode(&self, bytes: &[u8]) -> kafka_codec::Result<Box<dyn Entity>> {
        self.0.decode(bytes)
    }
    fn accepts(&self, content_type: &str) -> bool {
        self.0.accepts(content_type)
    }
    fn decode_hinted(
        &self,
        bytes: &[u8],
        hints: &Hints<'_>,
    ) -> kafka_codec::Result<Box<dyn Entity>> {
        self.0.decode_hinted(bytes, hints)
    }
}

fn user_codec(payload: &[u8], hints: Hints<'_>) {
    let codecs = Typetag(Codecs::new(Json::new()).with(MsgPack::new()));
    let accepted = hints.content_type.is_none_or(|ct| codecs.accepts(ct));
    match <Box<dyn Entity>>::decode_with(&codecs, payload, &hints) {
        Err(e) => {
            check_decode_err(&e, payload);
            assert!(
                accepted || matches!(e.kind(), ErrorKind::ContentTypeMismatch { .. }),
                "{e}"
            );
        }
        Ok(v) => {
            assert!(accepted);
            if let (Some(t), false) = (hints.type_name, lenient()) {
                assert_eq!(
                    v.type_name(),
                    t,
                    "Codecs decoded a `{}` though the type header says `{t}`",
                    v.type_name()
                );
            }
        }
    }
}

/// `Codecs::decode_hinted` picks the codec the content type names.
fn plain_codecs(payload: &[u8], ct: Option<&str>) {
    let codecs: Codecs<String> = Codecs::new(Utf8::default()).with(Json::new());
    let hints = Hints::new(ct, None);
    let got = codecs.decode_hinted(payload, &hints);
    let want: Option<kafka_codec::Result<String>> = match ct {
        None => Some(Utf8::default().decode(payload)),
        Some(ct) if Utf8::default().accepts(ct) => Some(Utf8::default().decode(payload)),
        Some(ct) if KafkaCodec::<String>::accepts(&Json::new(), ct) => {
            Some(Json::new().decode(payload))
        }
        Some(_) => None,
    };
    if let Err(e) = &got {
        check_decode_err(e, payload);
    }
    match (got, want) {
        (Ok(a), Some(Ok(b))) => assert_eq!(a, b),
        (Err(_), Some(Err(_))) => {}
        (Err(e), None) => assert!(
            matches!(e.kind(), ErrorKind::ContentTypeMismatch { .. }),
            "{e}"
        ),
        (got, want) => panic!("Codecs chose another codec: {got:?} vs {want:?}"),
    }
}
