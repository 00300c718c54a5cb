//! Compile-fail tests of `#[derive(KafkaMessage)]` and
//! `#[kafka_codec::polymorphic]`: one file per error message, each checked
//! against the exact diagnostic (`TRYBUILD=overwrite` regenerates them).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
