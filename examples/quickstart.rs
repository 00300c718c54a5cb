//! The main job. For now: encode and decode a message with the default codec.

use kafka_codec::{Json, KafkaCodec};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Greeting {
    from: String,
    text: String,
}

fn main() -> Result<(), kafka_codec::Error> {
    let codec = Json::new();
    let message = Greeting {
        from: "kafka-codec".into(),
        text: "héllo, wörld".into(),
    };
    let mut buf = Vec::new();
    codec.encode(&message, &mut buf)?;
    println!("{} bytes: {}", buf.len(), String::from_utf8_lossy(&buf));
    let back: Greeting = codec.decode(&buf)?;
    assert_eq!(back, message);
    println!("decoded: {back:?}");
    Ok(())
}
