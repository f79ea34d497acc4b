import NIOCore
import TokendProtocol

/// What the framing layer hands to the request handler.
enum InboundLine {
    /// One request line without its LF (a trailing CR is left for the parser).
    case line(ByteBuffer)
    /// A line exceeded 4096 bytes; nothing after it is read.
    case tooLong
}

/// Splits the byte stream into LF-terminated request lines of at most
/// `ProtocolLimits.maximumLineLength` bytes (CR not counted).
struct RequestLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = InboundLine
    private var overflowed = false
    private var scanned = 0

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if overflowed {
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            return .needMoreData
        }
        let view = buffer.readableBytesView
        if let newline = view[(view.startIndex + scanned)...].firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - view.startIndex
            scanned = 0
            var contentLength = length
            if length > 0, view[newline - 1] == UInt8(ascii: "\r") { contentLength -= 1 }
            if contentLength > ProtocolLimits.maximumLineLength {
                return overflow(context: context, buffer: &buffer)
            }
            let line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            context.fireChannelRead(wrapInboundOut(.line(line)))
            return .continue
        }
        scanned = view.count
        // Room for the longest line plus its CR; more without LF is too long.
        if view.count > ProtocolLimits.maximumLineLength + 1 {
            return overflow(context: context, buffer: &buffer)
        }
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        let state = try decode(context: context, buffer: &buffer)
        if state == .needMoreData, !overflowed, buffer.readableBytes > 0 {
            // A last request without its LF before the client closed: answer it too.
            let line = buffer.readSlice(length: buffer.readableBytes)!
            scanned = 0
            context.fireChannelRead(wrapInboundOut(.line(line)))
            return .continue
        }
        return state
    }

    private mutating func overflow(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        overflowed = true
        scanned = 0
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        context.fireChannelRead(wrapInboundOut(.tooLong))
        return .needMoreData
    }
}
