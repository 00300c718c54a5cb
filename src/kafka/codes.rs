//! librdkafka error codes, sorted by what this crate does about them. Every
//! such list lives here.

use rdkafka::types::RDKafkaErrorCode as C;

/// `true` for librdkafka error codes that go away by themselves: a broker
/// down or restarting, a leader or coordinator moving, a full queue.
pub(crate) fn retriable(code: C) -> bool {
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
            | C::RebalanceInProgress
            | C::IllegalGeneration
            | C::WaitingForCoordinator
    )
}

/// `true` for commit refusals that mean "these partitions are no longer
/// yours": the records stay uncommitted and go to the next owner again.
pub(crate) fn lost_generation(code: C) -> bool {
    matches!(
        code,
        C::RebalanceInProgress
            | C::IllegalGeneration
            | C::UnknownMemberId
            | C::FencedInstanceId
            | C::AssignmentLost
            | C::State
    )
}

/// `true` for the codes that refuse a transaction's offsets because this
/// member's generation is over (a rebalance took the partitions). Unlike
/// [`lost_generation`], `State` is not one: in a transaction it is about
/// the transaction.
pub(crate) fn generation_over(code: C) -> bool {
    matches!(
        code,
        C::IllegalGeneration | C::UnknownMemberId | C::FencedInstanceId | C::RebalanceInProgress
    )
}

/// `true` for the codes that say the broker no longer knows an idempotent
/// producer's state, so every later record of it would be refused too.
pub(crate) fn idempotence_lost(code: C) -> bool {
    matches!(
        code,
        C::UnknownProducerId
            | C::OutOfOrderSequenceNumber
            | C::InvalidProducerEpoch
            | C::InvalidProducerIdMapping
    )
}
