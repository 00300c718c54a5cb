use kafka_codec::KafkaMessage;

#[derive(KafkaMessage)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
