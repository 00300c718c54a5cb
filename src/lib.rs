//! Typed Kafka messages.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod codec;
mod error;

#[cfg(feature = "msgpack")]
pub use codec::MsgPack;
pub use codec::{Codecs, Hints, Json, KafkaCodec, Limits};
pub use error::{BoxError, Error, ErrorKind, Position, RecordMeta, Result};

#[cfg(feature = "kafka")]
pub(crate) fn kafka_retriable(code: rdkafka::types::RDKafkaErrorCode) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        code,
        C::QueueFull
            | C::AllBrokersDown
            | C::BrokerTransportFailure
            | C::RequestTimedOut
            | C::NotLeaderForPartition
            | C::LeaderNotAvailable
            | C::NetworkException
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::OperationTimedOut
            | C::MessageTimedOut
            | C::UnknownTopicOrPartition
            | C::CoordinatorLoadInProgress
            | C::CoordinatorNotAvailable
            | C::NotCoordinator
    )
}
