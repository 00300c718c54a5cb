//! Interoperability with the Python original (`tests/python/sample.py`): its
//! JSON decodes into the Rust hierarchy, and what Rust writes back decodes in
//! Python into the very objects it started from.
//!
//! These tests need `python3` (3.11+) on the path and fail without it: CI has
//! it, and a skipped interop test would hide exactly the breakage it exists
//! to catch.

use kafka_codec_sample as sample;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use chrono::{NaiveDate, TimeZone, Utc};
use kafka_codec::KafkaMessage;
use rust_decimal::Decimal;
use sample::*;
use uuid::Uuid;

fn manifest_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs `python3 tests/python/sample.py <args>`, feeding it `stdin`.
fn sample_py(args: &[&str], stdin: &[u8]) -> Output {
    let script = manifest_path("tests/python/sample.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `python3 {}`: {e}; the interop tests need python3",
                script.display()
            )
        });
    // Written from another thread so a chatty child cannot deadlock us.
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || pipe.write_all(&input));
    let output = child.wait_with_output().expect("wait for python3");
    writer
        .join()
        .expect("stdin writer thread")
        .expect("write to python3's stdin");
    output
}

fn generate(seed: u64, count: usize) -> Vec<String> {
    let (seed, count) = (seed.to_string(), count.to_string());
    let out = sample_py(&["generate", "--seed", &seed, "--count", &count], b"");
    assert!(
        out.status.success(),
        "generate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("generate writes UTF-8");
    text.lines().map(str::to_owned).collect()
}

fn verify(seed: u64, count: usize, lines: &[Vec<u8>]) -> Output {
    let mut input = Vec::new();
    for line in lines {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    let (seed, count) = (seed.to_string(), count.to_string());
    sample_py(&["verify", "--seed", &seed, "--count", &count], &input)
}

fn decode_line(i: usize, line: &str) -> Box<dyn Entity> {
    <Box<dyn Entity>>::from_bytes(line.as_bytes())
        .unwrap_or_else(|e| panic!("line {i} does not decode: {e}\n{line}"))
}

#[test]
fn python_fixture_decodes_line_by_line() {
    let path = manifest_path("tests/fixtures/python_hierarchy.jsonl");
    let text = std::fs::read_to_string(&path).expect("read the fixture");
    let entities: Vec<Box<dyn Entity>> = text
        .lines()
        .enumerate()
        .map(|(i, line)| decode_line(i, line))
        .collect();
    assert_eq!(entities.len(), 40);

    // Every line names its type first, and decoding keeps it.
    for (line, entity) in text.lines().zip(&entities) {
        let tag = format!(r#"{{"type": "{}""#, entity.type_name());
        assert!(line.starts_with(&tag), "{line}");
        // And Rust's own encoding decodes to the same value again.
        let again = <Box<dyn Entity>>::from_bytes(&entity.to_bytes().unwrap()).unwrap();
        assert_eq!(format!("{again:?}"), format!("{entity:?}"));
    }

    let person = entities[0]
        .downcast_ref::<Person>()
        .expect("line 0 is a Person");
    assert_eq!(
        person.id,
        Uuid::parse_str("128b2f33-0c5c-7fd0-a6a3-a4506513270e").unwrap()
    );
    assert_eq!(
        person.created_at,
        Utc.with_ymd_and_hms(2019, 2, 13, 5, 45, 43).unwrap()
            + chrono::Duration::microseconds(153_700)
    );
    assert_eq!(person.name, "Ærin Škoda");
    assert_eq!(person.email, "user76387@example.com");
    assert_eq!(
        person.birth_date,
        NaiveDate::from_ymd_opt(1995, 7, 11).unwrap()
    );
    assert_eq!(person.address.street, "39 Rue de l'Église");
    assert_eq!(person.address.city, "上海");
    assert_eq!(person.address.postal_code, "56838");
    assert_eq!(
        person.tags.iter().map(String::as_str).collect::<Vec<_>>(),
        ["", "beta", "vip"]
    );
    assert_eq!(person.phone.as_deref(), Some("+8 946-9264"));

    let employee = entities[1]
        .downcast_ref::<Employee>()
        .expect("line 1 is an Employee");
    assert_eq!(employee.name, "Zoë 李");
    assert_eq!(employee.address.street, "880 Königstraße");
    assert_eq!(employee.employee_no, 1_226_652_085);
    assert_eq!(employee.department, Department::Sales);
    assert_eq!(employee.salary, Decimal::new(36_758_508, 2));
    assert_eq!(employee.salary.to_string(), "367585.08");
    assert_eq!(
        employee.manager_id,
        Some(Uuid::parse_str("34b9b5df-9e77-69b1-0f42-05b4907a70c3").unwrap())
    );
    assert_eq!(
        employee
            .skills
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["c++", "excel", "support"]
    );
    assert_eq!(
        employee.created_at.to_rfc3339(),
        "2020-08-03T08:54:58.103537+00:00"
    );

    let customer = entities[2]
        .downcast_ref::<Customer>()
        .expect("line 2 is a Customer");
    assert_eq!(customer.name, "Ærin Żółć");
    assert_eq!(customer.address.city, "São Paulo");
    assert_eq!(customer.tier, Tier::Silver);
    assert_eq!(customer.credit_limit.to_string(), "1.00");
    assert!(customer.vip);
    assert!(customer.tags.contains("früh"));

    let order = entities[3]
        .downcast_ref::<Order>()
        .expect("line 3 is an Order");
    assert_eq!(order.status, OrderStatus::Shipped);
    assert_eq!(order.items.len(), 4);
    assert_eq!(order.items[0].sku, "SKU-41123-蓝");
    assert_eq!(order.items[0].quantity, 89);
    assert_eq!(order.items[0].unit_price.to_string(), "651.00");
    assert_eq!(order.total, Decimal::new(9_679_686, 2));
    let sum: Decimal = order
        .items
        .iter()
        .map(|i| i.unit_price * Decimal::from(i.quantity))
        .sum();
    assert_eq!(sum, order.total);
    assert_eq!(order.shipped_on, NaiveDate::from_ymd_opt(1991, 6, 3));
    assert_eq!(order.note, None);
    assert_eq!(
        order.customer_id,
        Uuid::parse_str("0f17a300-7e62-aa0a-1df9-fd789c653938").unwrap()
    );

    // The base view is the same for every concrete type.
    assert_eq!(entities[3].base().id, order.entity.id);
    assert_eq!(entities[1].base(), &employee.person.entity);
}

const SEED: u64 = 11;
const COUNT: usize = 300;

/// Python's lines, decoded in Rust and encoded again by Rust.
fn reencoded() -> Vec<Vec<u8>> {
    let lines = generate(SEED, COUNT);
    assert_eq!(lines.len(), COUNT);
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let entity = decode_line(i, line);
            let bytes = entity.to_bytes().unwrap();
            assert!(
                !bytes.contains(&b'\n'),
                "one record, one line: {}",
                String::from_utf8_lossy(&bytes)
            );
            bytes
        })
        .collect()
}

#[test]
fn python_to_rust_to_python_round_trip() {
    let lines = reencoded();
    // All four types took part.
    for tag in ["Person", "Employee", "Customer", "Order"] {
        let prefix = format!(r#"{{"type":"{tag}","#);
        assert!(
            lines.iter().any(|l| l.starts_with(prefix.as_bytes())),
            "no {tag} among the generated lines"
        );
    }
    let out = verify(SEED, COUNT, &lines);
    assert!(
        out.status.success(),
        "python rejected what Rust wrote:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("verified {COUNT} objects")
    );
}

#[test]
fn verify_catches_a_corrupted_line() {
    let mut lines = reencoded();
    // A changed value that still decodes: only the comparison can catch it.
    let i = 17;
    let mut value: serde_json::Value = serde_json::from_slice(&lines[i]).unwrap();
    value["id"] = Uuid::nil().to_string().into();
    lines[i] = serde_json::to_vec(&value).unwrap();
    let out = verify(SEED, COUNT, &lines);
    assert!(!out.status.success(), "verify accepted a corrupted line");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("mismatch at index {i}, field id")),
        "{stderr}"
    );

    // A line that does not decode at all.
    let mut lines = reencoded();
    lines[3] = br#"{"type":"Robot"}"#.to_vec();
    let out = verify(SEED, COUNT, &lines);
    assert!(!out.status.success(), "verify accepted an unknown type");

    // A missing line.
    let mut lines = reencoded();
    lines.pop();
    let out = verify(SEED, COUNT, &lines);
    assert!(!out.status.success(), "verify accepted a short input");
}
