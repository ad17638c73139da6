//! The `Recorder`: the event sink live sessions write into. It writes the
//! generic transcript and runs every check on each event, so a finding found
//! live carries the transcript line a later `imapspec check` would name.
//! One recorder is shared by all sessions of a scenario (or a load run, or a
//! replay), so cross-session checks see every connection.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::checks::Checker;
use crate::event::{Event, EventSink};
use crate::source::{Origin, Timestamp};
use crate::transcript::generic::TranscriptWriter;
use crate::wire::Direction;

/// The transcript and the checks every session of a run writes into.
pub struct Recorder {
    writer: TranscriptWriter<Box<dyn Write + Send>>,
    pub checker: Checker,
    /// Every event, kept only when asked (tests); otherwise empty.
    pub events: Option<Vec<Event>>,
}

pub type SharedRecorder = Arc<Mutex<Recorder>>;

impl Recorder {
    pub fn new(out: Box<dyn Write + Send>, name: &str) -> std::io::Result<SharedRecorder> {
        Ok(Arc::new(Mutex::new(Recorder {
            writer: TranscriptWriter::new(out, Arc::from(name))?,
            checker: Checker::default(),
            events: None,
        })))
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

impl EventSink for Recorder {
    fn write_message(
        &mut self,
        at: Timestamp,
        session: &str,
        dir: Direction,
        bytes: &[u8],
    ) -> std::io::Result<Origin> {
        self.writer.message(at, session, dir, bytes)
    }

    fn write_directive(
        &mut self,
        at: Timestamp,
        session: &str,
        text: &str,
    ) -> std::io::Result<(Origin, String)> {
        self.writer.directive(at, session, text)
    }

    fn observe(&mut self, event: Event) -> Event {
        self.checker.on_event(&event);
        if let Some(all) = self.events.as_mut() {
            all.push(event.clone());
        }
        event
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}
