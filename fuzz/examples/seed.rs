//! Writes the seed corpora committed in `fuzz/seeds/<target>/` (which
//! `scripts/fuzz.sh` passes to every run) from
//! `tests/fixtures/python_hierarchy.jsonl`. Regenerate them with
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example seed
//! ```
//!
//! Per fixture line `i`, each target gets the line as is and with its `"type"`
//! key moved last (the tag not leading), in the form the target reads:
//! JSON, MessagePack (maps with string keys, in the line's key order),
//! behind a selector byte `(i + j) % 64` for the `poly_*` targets, and as
//! `content-type 0xFF ce_type 0xFF "type" 0xFF payload` for `headers`. Then
//! nesting at and around the depth limits (8 and 128 levels) and a few raw
//! byte strings.

use std::fs;
use std::path::Path;

use serde_json::Value;

const CONTENT_TYPES: [&str; 4] = ["application/json", "application/msgpack", "text/plain", ""];

/// The same object with its `"type"` key last, as compact JSON.
fn moved(line: &str) -> String {
    let mut value: Value = serde_json::from_str(line).expect("fixture line is JSON");
    if let Some(obj) = value.as_object_mut() {
        if let Some(tag) = obj.shift_remove("type") {
            obj.insert("type".into(), tag);
        }
    }
    value.to_string()
}

fn msgpack(json: &str) -> Vec<u8> {
    let value: Value = serde_json::from_str(json).expect("fixture line is JSON");
    rmp_serde::to_vec(&value).expect("JSON encodes as MessagePack")
}

fn seeds(target: &str, lines: &[&str]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let variants = [line.to_string(), moved(line)];
        let tag = serde_json::from_str::<Value>(line).unwrap()["type"]
            .as_str()
            .unwrap_or("")
            .to_string();
        for (j, v) in variants.iter().enumerate() {
            let (json, mp) = (v.as_bytes().to_vec(), msgpack(v));
            let selector = ((i + j) % 64) as u8;
            match target {
                "json" => out.push(json),
                "msgpack" => out.push(mp),
                "poly_json" => out.extend([json.clone(), [&[selector], &json[..]].concat()]),
                "poly_msgpack" => out.extend([mp.clone(), [&[selector], &mp[..]].concat()]),
                "headers" => {
                    let ct = CONTENT_TYPES[i % CONTENT_TYPES.len()];
                    let ty = if (i + j) % 3 == 0 { "Person" } else { &tag };
                    let body = if ct.ends_with("msgpack") { mp } else { json };
                    let head = [ct.as_bytes(), b"\xff", ty.as_bytes(), b"\xfftype\xff"].concat();
                    out.push([head, body].concat());
                }
                "raw" if i < 8 && j == 0 => out.push(json),
                _ => {}
            }
        }
    }
    for d in [7, 8, 127] {
        match target {
            "json" | "poly_json" => {
                out.push(format!("{}{}", "[".repeat(d), "]".repeat(d)).into_bytes());
                out.push(format!("{}1{}", r#"{"a":"#.repeat(d), "}".repeat(d)).into_bytes());
            }
            "msgpack" | "poly_msgpack" => {
                out.push([b"\x91".repeat(d), b"\xc0".to_vec()].concat());
                out.push([b"\x81\xa1a".repeat(d), b"\x01".to_vec()].concat());
            }
            _ => {}
        }
    }
    if target == "raw" {
        let extra: [&[u8]; 6] = [
            b"",
            b"hello",
            "Zoë 李".as_bytes(),
            b"\xff\xfe",
            b"ok\xc3",
            b"\xed\xa0\x80",
        ];
        out.extend(extra.iter().map(|b| b.to_vec()));
    }
    out
}

fn main() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = fs::read_to_string(fuzz.join("../tests/fixtures/python_hierarchy.jsonl"))
        .expect("read tests/fixtures/python_hierarchy.jsonl");
    let lines: Vec<&str> = fixture.lines().filter(|l| !l.trim().is_empty()).collect();
    for target in "json msgpack raw poly_json poly_msgpack headers".split(' ') {
        let dir = fuzz.join("seeds").join(target);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the seed directory");
        let seeds = seeds(target, &lines);
        for (n, seed) in seeds.iter().enumerate() {
            fs::write(dir.join(format!("seed-{n:04}")), seed).expect("write a seed");
        }
        println!("fuzz/seeds/{target}: {} inputs", seeds.len());
    }
}
