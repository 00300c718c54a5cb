//! The pass-through codecs: `Bytes` (into `Vec<u8>` and `bytes::Bytes`) and
//! `Utf8`, with the default limits and with a size limit taken from the
//! input's first byte.
//!
//! Invariants: no panic; `Bytes` returns the input unchanged; `Utf8` accepts
//! exactly valid UTF-8 and reports where it stopped; a payload over the size
//! limit is refused with `TooLarge` and nothing within it is; errors carry
//! the input; encoding a decoded value gives the input back.
#![no_main]

use kafka_codec::codec::{Bytes, Utf8};
use kafka_codec::{ErrorKind, KafkaCodec, Position};
use libfuzzer_sys::fuzz_target;

mod common;
use common::*;

fuzz_target!(|data: &[u8]| {
    check(Bytes::default(), Utf8::default(), usize::MAX, data);
    if let Some((&limit, rest)) = data.split_first() {
        let limit = usize::from(limit);
        check(
            Bytes::default().max_payload(limit),
            Utf8::default().max_payload(limit),
            limit,
            rest,
        );
    }
});

fn check(bytes: Bytes, utf8: Utf8, limit: usize, data: &[u8]) {
    let limit = limit.min(kafka_codec::Limits::DEFAULT.max_payload);
    let too_large = data.len() > limit;

    let as_vec: kafka_codec::Result<Vec<u8>> = bytes.decode(data);
    let as_bytes: kafka_codec::Result<bytes::Bytes> = bytes.decode(data);
    let as_text: kafka_codec::Result<String> = utf8.decode(data);
    for err in [
        as_vec.as_ref().err(),
        as_bytes.as_ref().err(),
        as_text.as_ref().err(),
    ]
    .into_iter()
    .flatten()
    {
        check_decode_err(err, data);
    }

    if too_large {
        for err in [
            as_vec.as_ref().err(),
            as_bytes.as_ref().err(),
            as_text.as_ref().err(),
        ] {
            let err = err.expect("a payload over the size limit was accepted");
            assert!(
                matches!(err.kind(), ErrorKind::TooLarge { size, limit: l } if *size == data.len() && *l == limit),
                "wrong error for an oversized payload: {err}"
            );
        }
        return;
    }

    let v = as_vec.expect("Bytes refused a payload within the limit");
    assert_eq!(v, data);
    let b = as_bytes.expect("Bytes refused a payload within the limit");
    assert_eq!(&b[..], data);
    let mut out = Vec::new();
    KafkaCodec::<Vec<u8>>::encode(&bytes, &v, &mut out).unwrap();
    KafkaCodec::<bytes::Bytes>::encode(&bytes, &b, &mut out).unwrap();
    assert_eq!(out.len(), 2 * data.len());
    assert!(out.starts_with(data) && out.ends_with(data));

    match (std::str::from_utf8(data), as_text) {
        (Ok(s), Ok(t)) => {
            assert_eq!(s, t);
            let mut out = Vec::new();
            utf8.encode(&t, &mut out).unwrap();
            assert_eq!(out, data);
        }
        (Err(std_err), Err(e)) => match e.kind() {
            ErrorKind::Malformed { position, .. } => {
                assert_eq!(*position, Position::Offset(std_err.valid_up_to()), "{e}");
            }
            _ => panic!("invalid UTF-8 refused with the wrong kind: {e}"),
        },
        (Ok(_), Err(e)) => panic!("Utf8 refused valid UTF-8: {e}"),
        (Err(_), Ok(_)) => panic!("Utf8 accepted invalid UTF-8"),
    }
}
