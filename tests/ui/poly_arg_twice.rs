#[kafka_codec::polymorphic(tag = "kind", tag = "type", topic = "shapes", topic = "forms")]
trait Shape {
    fn area(&self) -> f64;
}

fn main() {}
