import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing
import TokendCore
@testable import TokendEngine
import TokendPlatform
@testable import TokendServer

/// The connection handler on an `EmbeddedChannel`: no socket, no daemon.
/// The engine runs on a real event loop of its own (its transfers complete
/// from other threads, which an embedded loop must not see); only answers
/// that need no engine round trip are exercised here (the rest is end to end).
@Suite(.serialized) struct ConnectionHandlerTests {
    let engineGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let userGroups = UserGroupCache()

    /// A channel with a handler for peer `uid`, and the engine's profiles:
    /// `open` (anyone, holding a fresh token) and `closed` (uid 4242 only).
    func makeChannel(uid: UInt32 = 1000, token: String = "tok-123") throws -> (EmbeddedChannel, TokenEngine) {
        let engine = TokenEngine(loop: engineGroup.next(), logger: Logger(label: "test"))
        let profiles = [
            ProfileConfiguration(name: "open", tokenURL: "http://127.0.0.1:9/t", clientID: "c", clientSecret: Secret("s"), prefetch: false),
            ProfileConfiguration(name: "closed", tokenURL: "http://127.0.0.1:9/t", clientID: "c", clientSecret: Secret("s"), prefetch: false,
                                 access: AccessRule(restricted: true, uids: [4242])),
        ]
        _ = try engine.apply(profiles).wait()
        let now = BootClock.now()
        let held = HeldToken(token: IssuedToken(accessToken: token, lifetime: .seconds(3600 as Int64)), obtainedAt: now,
                             renewAt: now + .seconds(2700 as Int64))
        engine.directory.handle(named: "open")!.slot.publish(ServedToken(held))
        let context = ServerContext(engine: engine, idleTimeout: .seconds(60 as Int64), maxConnections: 10, logger: Logger(label: "test"),
                                    userGroups: userGroups)
        let channel = EmbeddedChannel(handler: ConnectionHandler(server: context, peer: PeerCredentials(pid: 1, uid: uid, gid: uid, kernelGroups: [])))
        channel.pipeline.fireChannelActive()
        return (channel, engine)
    }

    /// Everything the handler wrote, as text.
    func written(_ channel: EmbeddedChannel) throws -> [String] {
        var writes: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            writes.append(String(buffer: buffer))
        }
        return writes
    }

    /// Closes the channel (its idle timer is cancelled and run off the loop)
    /// and stops the engine and the lookup thread: nothing is left behind.
    func shutDown(_ engine: TokenEngine, _ channel: EmbeddedChannel) throws {
        _ = try? channel.finish(acceptAlreadyClosed: true)
        channel.embeddedEventLoop.advanceTime(by: .hours(1))
        userGroups.shutdown()
        try engine.shutdown(grace: .seconds(1)).wait()
        try engineGroup.syncShutdownGracefully()
    }

    @Test func pipelinedRequestsAreAnsweredInOrderInOneWrite() throws {
        let (channel, engine) = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "PING\r\nGET open\nheader OPEN\nVERSION\nLIST\nFROB\n"))
        let writes = try written(channel)
        #expect(writes.count == 1, "\(writes.count) writes")
        let lines = writes.joined().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 7)
        #expect(lines[0] == "OK PONG")
        #expect(lines[1].hasPrefix("OK tok-123 ") && (Int(lines[1].split(separator: " ")[2]) ?? 0) >= 3599)
        #expect(lines[2] == "ERR unknown-profile no profile named OPEN")
        #expect(lines[3].hasPrefix("OK tokend ") && lines[3].hasSuffix(" protocol 1"))
        #expect(lines[4] == "OK open")  // `closed` is not listed to this peer
        #expect(lines[5].hasPrefix("ERR bad-request unknown verb FROB"))
        try shutDown(engine, channel)
    }

    @Test func aLineSplitAcrossReadsIsOneRequest() throws {
        let (channel, engine) = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "GE"))
        try channel.writeInbound(ByteBuffer(string: "T op"))
        #expect(try written(channel).isEmpty)
        try channel.writeInbound(ByteBuffer(string: "en\nHEADER open\n"))
        let text = try written(channel).joined()
        #expect(text.hasPrefix("OK tok-123 ") && text.hasSuffix("OK Authorization: Bearer tok-123\n"))
        try shutDown(engine, channel)
    }

    @Test func aDeniedPeerIsToldSo() throws {
        let (channel, engine) = try makeChannel(uid: 1000)
        try channel.writeInbound(ByteBuffer(string: "GET closed\nSTATUS closed\n"))
        #expect(try written(channel).joined() == "ERR denied you may not read profile closed\nERR denied you may not read profile closed\n")
        try shutDown(engine, channel)
    }

    @Test func anOverLongLineIsAnsweredThenTheConnectionCloses() throws {
        let (channel, engine) = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "PING\n" + String(repeating: "x", count: 5000)))
        #expect(try written(channel).joined() == "OK PONG\nERR too-long request line longer than 4096 bytes\n")
        #expect(!channel.isActive)
        try shutDown(engine, channel)
    }

    @Test func quitAnswersThenCloses() throws {
        let (channel, engine) = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "QUIT\nPING\n"))
        #expect(try written(channel).joined() == "OK BYE\n")
        #expect(!channel.isActive)
        try shutDown(engine, channel)
    }

    @Test func aLastLineWithoutLFIsAnsweredAtEndOfInput() throws {
        let (channel, engine) = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "PING"))
        #expect(try written(channel).isEmpty)
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try written(channel).joined() == "OK PONG\n")
        #expect(!channel.isActive)
        try shutDown(engine, channel)
    }
}
