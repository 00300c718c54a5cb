//! `<Box<dyn Entity> as KafkaMessage>::decode_with` with the MessagePack
//! codec: once on the whole input with no hints, and once on the input after
//! its first byte, which selects a type header, a content-type header and
//! tighter limits (see `poly_common::Selector`).
//!
//! Invariants: as for `poly_json`. The payload's leading tag is read here by
//! an independent reading of the wire format (a map whose first key is the
//! string `type` and whose first value is a string).
#![no_main]

use kafka_codec::codec::Hints;
use kafka_codec::MsgPack;
use libfuzzer_sys::fuzz_target;

mod common;
mod poly_common;

use poly_common::*;

fuzz_target!(|data: &[u8]| {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(check_registry);

    check_poly(&MsgPack::new(), data, Hints::NONE, leading_tag(data));

    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let sel = Selector::new(sel);
    let mut codec = MsgPack::new();
    if sel.shallow {
        codec = codec.max_depth(SHALLOW);
    }
    if sel.small {
        codec = codec.max_payload(SMALL_PAYLOAD);
    }
    check_poly(&codec, rest, sel.hints, leading_tag(rest));
});

/// The string value of the first entry of a top-level map whose first key is
/// `"type"`, if it is valid UTF-8 and complete.
fn leading_tag(data: &[u8]) -> Option<&str> {
    let mut r = Reader(data);
    let entries = match r.byte()? {
        b @ 0x80..=0x8f => u32::from(b & 0x0f),
        0xde => u32::from(u16::from_be_bytes(r.take(2)?.try_into().ok()?)),
        0xdf => u32::from_be_bytes(r.take(4)?.try_into().ok()?),
        _ => return None,
    };
    if entries == 0 {
        return None;
    }
    if r.str()? != b"type" {
        return None;
    }
    std::str::from_utf8(r.str()?).ok()
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn str(&mut self) -> Option<&'a [u8]> {
        let len = match self.byte()? {
            b @ 0xa0..=0xbf => usize::from(b & 0x1f),
            0xd9 => usize::from(self.byte()?),
            0xda => usize::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?)),
            0xdb => usize::try_from(u32::from_be_bytes(self.take(4)?.try_into().ok()?)).ok()?,
            _ => return None,
        };
        self.take(len)
    }
}
