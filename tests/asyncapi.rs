//! The AsyncAPI document of the sample application (feature `schema`),
//! parsed by the real parser: `@asyncapi/parser`, run by node through
//! `scripts/asyncapi-parser.sh` (which installs it once into
//! `~/.cache/kafka-codec/asyncapi`). Without node this test fails: it does
//! not pass silently.

use std::process::Command;

use kafka_codec::schema::AsyncApi;
use kafka_codec_sample::{Entity, Order, Person};
use serde_json::Value;

fn sample_app() -> Value {
    AsyncApi::new("Sample entities", "1.0.0")
        .description("The Python sample's hierarchy, produced and consumed over Kafka.")
        .server("local", "localhost:9092")
        .send::<Box<dyn Entity>>("entities")
        .receive::<Box<dyn Entity>>("entities")
        .send::<Person>("people")
        .receive::<Order>("orders")
        .build()
}

/// Runs the parser on `doc`; `Err` with its output when it reports errors.
fn parse(doc: &Value) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("kafka-codec-asyncapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("doc-{}.json", rand::random::<u64>()));
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/asyncapi-parser.sh");
    let out = Command::new(script)
        .arg("validate")
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(
        out.status.code(),
        Some(127),
        "node and npm are needed to run the AsyncAPI parser:\n{text}"
    );
    let _ = std::fs::remove_file(&file);
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

#[test]
fn the_sample_apps_document_is_valid_for_the_asyncapi_parser() {
    let doc = sample_app();
    match parse(&doc) {
        // Warnings and hints, for the log.
        Ok(diagnostics) => eprintln!("{diagnostics}"),
        Err(diagnostics) => panic!(
            "{}\n\nthe parser reports errors:\n{diagnostics}",
            serde_json::to_string_pretty(&doc).unwrap()
        ),
    }
}

#[test]
fn the_document_describes_the_topics_and_messages() {
    let doc = sample_app();
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["servers"]["local"]["protocol"], "kafka");
    assert_eq!(doc["channels"]["entities"]["address"], "entities");
    assert_eq!(
        doc["channels"]["entities"]["messages"]["Entity"]["$ref"],
        "#/components/messages/Entity"
    );
    let entity = &doc["components"]["messages"]["Entity"];
    assert_eq!(entity["contentType"], "application/json");
    assert_eq!(entity["payload"]["oneOf"].as_array().unwrap().len(), 4);
    assert_eq!(
        entity["headers"]["properties"]["ce_type"]["enum"],
        serde_json::json!(["Customer", "Employee", "Order", "Person"])
    );
    assert_eq!(doc["operations"]["send_entities_Entity"]["action"], "send");
    assert_eq!(
        doc["operations"]["receive_orders_Order"]["action"],
        "receive"
    );
    // Subschemas live with the document's components, where `$ref`s point.
    assert!(doc["components"]["schemas"]["Address"].is_object());
}

#[test]
fn the_parser_catches_a_broken_document() {
    let mut doc = sample_app();
    doc["operations"]["send_people_Person"]["channel"]["$ref"] = "#/channels/nowhere".into();
    let diagnostics = parse(&doc).expect_err("a dangling channel reference was accepted");
    assert!(
        diagnostics.contains("\"severity\":\"error\""),
        "{diagnostics}"
    );
}
