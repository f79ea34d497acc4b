import NIOCore
import NIOHTTP1
import TokendCore

/// The per-connection NIO handler: gathers one request at a time (the
/// pipelining handler in front holds back the next until this one has been
/// answered), asks the ``TokenEndpoint`` what to do, and does it, after a
/// scheduled delay when asked, so a slow answer never blocks the event loop.
final class TokenEndpointHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoint: TokenEndpoint
    private var head: HTTPRequestHead?
    private var receivedAt: UInt64 = 0
    private var body: [UInt8] = []
    private var bodyTooLarge = false
    /// A delayed answer not yet sent; cancelled if the connection goes away.
    private var pending: Scheduled<Void>?
    /// A token request counted in flight and not yet answered.
    private var outstanding = false

    init(endpoint: TokenEndpoint) {
        self.endpoint = endpoint
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            // The issue time counts from the head, the closest we get to when
            // the client sent the request (tokend's lifetimes count from then).
            receivedAt = IdPClock.bootNanoseconds()
            self.head = head
            body.removeAll(keepingCapacity: true)
            bodyTooLarge = false
            // Older libcurl asks before sending bodies over 1 KiB; answering at
            // once spares it a one-second wait.
            if head.headers["Expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
        case .body(var chunk):
            // Past the limit the rest is read and dropped, so the 413 comes
            // after the whole request as HTTP/1.1 clients expect.
            if body.count + chunk.readableBytes > TestIdP.maxBodyBytes {
                bodyTooLarge = true
            } else if let bytes = chunk.readBytes(length: chunk.readableBytes) {
                body += bytes
            }
        case .end:
            guard let head else { return }
            self.head = nil
            requestComplete(head: head, context: context)
        }
    }

    private func requestComplete(head: HTTPRequestHead, context: ChannelHandlerContext) {
        let text = String(decoding: body, as: UTF8.self)
        var form: [String: String] = [:]
        for field in FormDecoder.body(text) ?? [] where form[field.name] == nil {
            form[field.name] = field.value
        }
        let request = TestIdP.RecordedRequest(
            method: head.method.rawValue,
            path: head.uri,
            headers: head.headers.map { ($0.name, $0.value) },
            body: text,
            form: form,
            receivedAt: receivedAt
        )
        let reply = endpoint.handle(request, bodyTooLarge: bodyTooLarge)
        outstanding = TokenEndpoint.tokenPath == (request.path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "")
        // After an oversized body the connection is not trusted further.
        let keepAlive = head.isKeepAlive && !bodyTooLarge
        if reply.delay > 0 {
            let nanoseconds = Int64(min(reply.delay, 1e9) * 1e9)
            pending = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(nanoseconds)) { [self] in
                pending = nil
                perform(reply.action, version: head.version, keepAlive: keepAlive, context: context)
            }
        } else {
            perform(reply.action, version: head.version, keepAlive: keepAlive, context: context)
        }
    }

    private func perform(_ action: Reply.Action, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext) {
        finishOutstanding()
        switch action {
        case .closeConnection:
            context.close(promise: nil)
        case .answer(let answer):
            var headers = HTTPHeaders(answer.headers)
            headers.replaceOrAdd(name: "Content-Length", value: String(answer.body.count))
            headers.replaceOrAdd(name: "Connection", value: keepAlive ? "keep-alive" : "close")
            let responseHead = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: answer.status), headers: headers)
            context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
            if !answer.body.isEmpty {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: answer.body)))), promise: nil)
            }
            let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                // Close only once the answer is out: closing at once would
                // drop a large body still queued behind a full socket buffer.
                written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            }
        }
    }

    private func finishOutstanding() {
        if outstanding {
            outstanding = false
            endpoint.requestFinished()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending?.cancel()
        pending = nil
        finishOutstanding()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        pending?.cancel()
        pending = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
