//! A lane's side on one connection ([`Handler`]): it opens the outbound
//! stream and writes the frames its lane handed over, and reads the
//! inbound streams' frames within the inbound bounds (see the parent
//! module for the streams, frames and bounds).

#[allow(clippy::wildcard_imports)]
use super::*;

/// Messages decoded from one frame (not `Debug` themselves: `M` need not be).
pub struct Decoded<M>(pub(super) Vec<M>);

impl<M> fmt::Debug for Decoded<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} messages", self.0.len())
    }
}

/// What a connection tells its lane.
pub enum HandlerEvent<M> {
    /// Messages read from inbound stream `stream`, numbered from `first_seq`.
    Messages {
        /// The stream's number on this connection.
        stream: u64,
        /// The first message's number on the stream.
        first_seq: u64,
        /// The messages.
        msgs: Decoded<M>,
    },
    /// Receipts of messages we sent.
    Receipts(Vec<(MessageId, Receipt)>),
    /// Messages that will get no receipt.
    Failed {
        /// Which.
        ids: Vec<MessageId>,
        /// Why.
        error: String,
        /// They certainly did not reach the peer.
        undelivered: bool,
    },
    /// A peer's stream broke a rule (it was dropped) or broke.
    InboundError(String),
}

impl<M> fmt::Debug for HandlerEvent<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerEvent::Messages { stream, first_seq, msgs } => f
                .debug_struct("Messages")
                .field("stream", stream)
                .field("first_seq", first_seq)
                .field("msgs", msgs)
                .finish(),
            HandlerEvent::Receipts(r) => f.debug_tuple("Receipts").field(r).finish(),
            HandlerEvent::Failed { ids, error, undelivered } => f
                .debug_struct("Failed")
                .field("ids", ids)
                .field("error", error)
                .field("undelivered", undelivered)
                .finish(),
            HandlerEvent::InboundError(e) => f.debug_tuple("InboundError").field(e).finish(),
        }
    }
}

/// A frame being written.
struct Writing {
    buf: Vec<u8>,
    pos: usize,
    /// The messages it carries, with their numbers on the stream.
    ids: Vec<(u64, MessageId)>,
}

fn poll_write(io: &mut Stream, cx: &mut Context<'_>, w: &mut Writing) -> Poll<io::Result<()>> {
    while w.pos < w.buf.len() {
        let n = ready!(Pin::new(&mut *io).poll_write(cx, &w.buf[w.pos..]))?;
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        w.pos += n;
    }
    Pin::new(io).poll_flush(cx)
}

/// The stream this connection opened: our messages out, receipts in.
struct OutStream {
    io: Stream,
    next_seq: u64,
    inflight: HashMap<u64, MessageId>,
    writing: Option<Writing>,
    reader: FrameReader,
}

/// The stream the peer opened: its messages in, our receipts out.
struct InStream {
    io: Stream,
    no: u64,
    next_seq: u64,
    /// Messages delivered to the node and not receipted yet: their sizes.
    pending: HashMap<u64, usize>,
    pending_bytes: usize,
    receipts: VecDeque<(u64, Receipt)>,
    writing: Option<Writing>,
    reader: FrameReader,
}

enum Out {
    Closed,
    Opening,
    Open(Box<OutStream>),
}

/// One connection's side of a lane.
pub struct Handler<M> {
    cfg: Arc<LaneConfig>,
    queue: Shared,
    out: Out,
    inbound: Option<Box<InStream>>,
    streams: u64,
    events: VecDeque<HandlerEvent<M>>,
    _m: PhantomData<fn() -> M>,
}

impl<M> Handler<M>
where
    M: DeserializeOwned + Send + 'static,
{
    pub(super) fn new(cfg: Arc<LaneConfig>, queue: Shared) -> Self {
        Handler { cfg, queue, out: Out::Closed, inbound: None, streams: 0, events: VecDeque::new(), _m: PhantomData }
    }

    /// Writes what the lane handed over and reads receipts; an error
    /// breaks the stream.
    fn poll_out(&mut self, cx: &mut Context<'_>) -> Result<(), String> {
        let Out::Open(s) = &mut self.out else { return Ok(()) };
        loop {
            if let Some(w) = &mut s.writing {
                match poll_write(&mut s.io, cx, w) {
                    Poll::Ready(Ok(())) => s.writing = None,
                    Poll::Ready(Err(e)) => return Err(format!("cannot write a frame: {e}")),
                    Poll::Pending => break,
                }
            }
            let mut frame = FrameBuf::new();
            let mut ids = Vec::new();
            {
                let now = Instant::now();
                let mut q = lock(&self.queue);
                while let Some(o) = q.ready.front() {
                    if frame.entries() > 0 && frame.wire_len() + MESSAGE_HEADER + o.cbor.len() > self.cfg.max_frame + 4
                    {
                        break;
                    }
                    let o = q.ready.pop_front().expect("front");
                    q.ready_bytes -= o.cbor.len();
                    if o.deadline <= now {
                        // Timed out already: the lane has failed it.
                        continue;
                    }
                    frame.push_message(&o.cbor);
                    ids.push((s.next_seq, o.id));
                    s.next_seq += 1;
                }
                if !ids.is_empty() {
                    q.frames += 1;
                }
            }
            if ids.is_empty() {
                break;
            }
            for (seq, id) in &ids {
                s.inflight.insert(*seq, *id);
            }
            s.writing = Some(Writing { buf: frame.finish(), pos: 0, ids });
        }
        let mut receipts = Vec::new();
        let got = loop {
            match s.reader.poll_frame(&mut s.io, cx, self.cfg.max_frame) {
                Poll::Ready(Ok(Some(body))) => {
                    for (seq, r) in frame::receipts(&body).map_err(|e| format!("bad receipt frame: {e}"))? {
                        let Some(id) = s.inflight.remove(&seq) else {
                            return Err(format!("a receipt of message {seq}, which is not awaiting one"));
                        };
                        receipts.push((id, r));
                    }
                }
                Poll::Ready(Ok(None)) => break Err("the peer closed the stream".to_string()),
                Poll::Ready(Err(e)) => break Err(format!("cannot read receipts: {e}")),
                Poll::Pending => break Ok(()),
            }
        };
        if !receipts.is_empty() {
            self.events.push_back(HandlerEvent::Receipts(receipts));
        }
        got
    }

    /// Writes receipts and reads messages while under the inbound bounds;
    /// an error drops the stream.
    fn poll_in(&mut self, cx: &mut Context<'_>) -> Result<(), String> {
        let Some(s) = &mut self.inbound else { return Ok(()) };
        loop {
            if let Some(w) = &mut s.writing {
                match poll_write(&mut s.io, cx, w) {
                    Poll::Ready(Ok(())) => s.writing = None,
                    Poll::Ready(Err(e)) => return Err(format!("cannot write receipts: {e}")),
                    Poll::Pending => break,
                }
            }
            if s.receipts.is_empty() {
                break;
            }
            let mut frame = FrameBuf::new();
            while let Some((seq, r)) = s.receipts.front() {
                if frame.entries() > 0 && frame.wire_len() + RECEIPT_HEADER + frame::MAX_RECEIPT > self.cfg.max_frame {
                    break;
                }
                if let Err(e) = frame.push_receipt(*seq, r) {
                    return Err(format!("cannot encode a receipt: {e}"));
                }
                s.receipts.pop_front();
            }
            s.writing = Some(Writing { buf: frame.finish(), pos: 0, ids: Vec::new() });
        }
        while s.pending.len() + s.receipts.len() < self.cfg.max_inbound_messages
            && s.pending_bytes < self.cfg.max_inbound_bytes
        {
            let body = match s.reader.poll_frame(&mut s.io, cx, self.cfg.max_frame) {
                Poll::Ready(Ok(Some(body))) => body,
                Poll::Ready(Ok(None)) => {
                    self.inbound = None;
                    return Ok(());
                }
                Poll::Ready(Err(e)) => return Err(format!("cannot read a frame: {e}")),
                Poll::Pending => break,
            };
            let decoded = frame::messages::<M>(&body, self.cfg.max_message).map_err(|e| format!("bad frame: {e}"))?;
            let first_seq = s.next_seq;
            let mut msgs = Vec::with_capacity(decoded.len());
            for (m, len) in decoded {
                s.pending.insert(first_seq + msgs.len() as u64, len);
                s.pending_bytes += len;
                msgs.push(m);
            }
            s.next_seq += msgs.len() as u64;
            if !msgs.is_empty() {
                self.events.push_back(HandlerEvent::Messages { stream: s.no, first_seq, msgs: Decoded(msgs) });
            }
        }
        Ok(())
    }

    /// Fails what the outbound stream carried: written, not receipted.
    fn break_out(&mut self, error: String) {
        if let Out::Open(s) = std::mem::replace(&mut self.out, Out::Closed) {
            let mut ids: Vec<MessageId> = s.inflight.into_values().collect();
            if let Some(w) = s.writing {
                ids.extend(w.ids.into_iter().map(|(_, id)| id));
            }
            ids.sort_unstable();
            ids.dedup();
            if !ids.is_empty() {
                let error = format!("the {} stream broke: {error}", self.cfg.protocol);
                self.events.push_back(HandlerEvent::Failed { ids, error, undelivered: false });
            }
        }
    }
}

impl<M> ConnectionHandler for Handler<M>
where
    M: DeserializeOwned + Send + 'static,
{
    type FromBehaviour = Infallible;
    type ToBehaviour = HandlerEvent<M>;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(self.cfg.protocol.clone()), ())
    }

    fn connection_keep_alive(&self) -> bool {
        let out = match &self.out {
            Out::Open(s) => !s.inflight.is_empty() || s.writing.is_some(),
            Out::Opening => true,
            Out::Closed => false,
        };
        let inbound = self.inbound.as_ref().is_some_and(|s| !s.pending.is_empty() || !s.receipts.is_empty());
        out || inbound || !lock(&self.queue).ready.is_empty()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        if let Some(e) = self.events.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(e));
        }
        let (receipts, has_ready) = {
            let mut q = lock(&self.queue);
            if !q.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                q.waker = Some(cx.waker().clone());
            }
            (std::mem::take(&mut q.receipts), !q.ready.is_empty())
        };
        if let Some(s) = &mut self.inbound {
            for (no, seq, r) in receipts {
                if no == s.no
                    && let Some(b) = s.pending.remove(&seq)
                {
                    s.pending_bytes -= b;
                    s.receipts.push_back((seq, r));
                }
            }
        }
        if matches!(self.out, Out::Closed) && has_ready {
            self.out = Out::Opening;
            let protocol = SubstreamProtocol::new(ReadyUpgrade::new(self.cfg.protocol.clone()), ());
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest { protocol });
        }
        if let Err(e) = self.poll_out(cx) {
            self.break_out(e);
            // Reopen at once if more is waiting.
            cx.waker().wake_by_ref();
        }
        if let Err(e) = self.poll_in(cx) {
            self.inbound = None;
            self.events.push_back(HandlerEvent::InboundError(format!("{} stream dropped: {e}", self.cfg.protocol)));
        }
        match self.events.pop_front() {
            Some(e) => Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(e)),
            None => Poll::Pending,
        }
    }

    fn on_behaviour_event(&mut self, e: Infallible) {
        match e {}
    }

    fn on_connection_event(&mut self, event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound { protocol: mut io, .. }) => {
                io.ignore_for_keep_alive();
                self.streams += 1;
                // A new stream from the peer replaces its old one (the peer
                // has given up on what the old one carried).
                self.inbound = Some(Box::new(InStream {
                    io,
                    no: self.streams,
                    next_seq: 0,
                    pending: HashMap::new(),
                    pending_bytes: 0,
                    receipts: VecDeque::new(),
                    writing: None,
                    reader: FrameReader::default(),
                }));
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound { protocol: mut io, .. }) => {
                io.ignore_for_keep_alive();
                self.out = Out::Open(Box::new(OutStream {
                    io,
                    next_seq: 0,
                    inflight: HashMap::new(),
                    writing: None,
                    reader: FrameReader::default(),
                }));
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { error, .. }) => {
                self.out = Out::Closed;
                let ids: Vec<MessageId> = {
                    let mut q = lock(&self.queue);
                    q.ready_bytes = 0;
                    q.ready.drain(..).map(|o| o.id).collect()
                };
                let error = format!("cannot open a {} stream: {error}", self.cfg.protocol);
                self.events.push_back(HandlerEvent::Failed { ids, error, undelivered: true });
            }
            _ => {}
        }
    }
}
