use kafka_codec::codec::Utf8;

// `Utf8` reads text, not serde types: it cannot be on the fast path.
#[kafka_codec::polymorphic(codecs(Utf8))]
trait Shape {}

fn main() {}
