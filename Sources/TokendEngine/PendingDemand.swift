import NIOCore
import TokendCore

/// A client waiting on a profile: what it asked for and where its answer goes.
/// A reload hands these from a changed profile's old runner to its new one.
struct PendingDemand {
    let demand: Demand
    let promise: EventLoopPromise<DemandOutcome>
}
