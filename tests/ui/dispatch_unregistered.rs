use kafka_codec::kafka::Dispatch;

#[kafka_codec::polymorphic]
trait Shape {}

#[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
struct Circle {
    r: f64,
}

#[kafka_codec::polymorphic]
impl Shape for Circle {}

// Never registered for `Shape`: a route to it could never be taken.
#[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
struct Square {
    side: f64,
}

fn main() {
    let _ = Dispatch::<dyn Shape>::new()
        .on(|_meta, _c: Circle| async { Ok(()) })
        .on(|_meta, _s: Square| async { Ok(()) });
}
