#[kafka_codec::polymorphic]
trait Shape {}

#[derive(serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
struct Circle {
    r: f64,
}

#[kafka_codec::polymorphic(name = "Circle", alias = "Round", alias = "Round", alias = "Circle")]
impl Shape for Circle {}

fn main() {}
