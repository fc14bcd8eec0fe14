// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `ghost-faces` element message that `ghostfacedetect` and `ghostfacetrack` post per frame with
//! `post-messages=true` (like OpenCV's `facedetect`), as typed Rust: the elements build it with
//! [`FacesMessage::new`] and [`FacesMessage::to_structure`], applications read it back with
//! `FacesMessage::try_from(structure)`. The field names are in docs/architecture.md#the-ghost-faces-bus-message.

use gst::prelude::*;

use crate::meta::Face;

/// One face of the message, in frame pixels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessageFace {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub score: f64,
    /// Left eye, right eye, nose, left and right mouth corner.
    pub keypoints: [[f64; 2]; 5],
    /// 0 until ghostfacetrack assigns one (the same name and value as in the ROI meta's params).
    pub track_id: u64,
    pub selected: bool,
    /// Filled in by the tracker without a detection on this frame.
    pub predicted: bool,
    /// Frames since the face's swap was generated (0: from this frame); `None` without a swap.
    pub swap_age: Option<u32>,
}

impl From<&Face> for MessageFace {
    fn from(f: &Face) -> Self {
        MessageFace {
            x: f.bbox[0] as f64,
            y: f.bbox[1] as f64,
            width: f.width() as f64,
            height: f.height() as f64,
            score: f.score as f64,
            keypoints: f.keypoints.map(|p| [p[0] as f64, p[1] as f64]),
            track_id: f.track_id,
            selected: f.selected,
            predicted: f.predicted,
            swap_age: f.swap.as_ref().map(|s| s.age),
        }
    }
}

/// The faces of one frame and when the frame is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FacesMessage {
    /// The buffer's PTS.
    pub timestamp: Option<gst::ClockTime>,
    /// The PTS in running time and in stream time (time segments only).
    pub running_time: Option<gst::ClockTime>,
    pub stream_time: Option<gst::ClockTime>,
    pub faces: Vec<MessageFace>,
}

/// A structure that is not a well-formed `ghost-faces` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a ghost-faces message: {0}")]
pub struct MessageError(String);

impl FacesMessage {
    /// The structure name.
    pub const NAME: &'static str = "ghost-faces";
    /// The structure name of each face.
    pub const FACE_NAME: &'static str = "face";

    /// The message for a buffer of a stream in `segment`.
    pub fn new(segment: &gst::Segment, buffer: &gst::BufferRef, faces: &[Face]) -> Self {
        let timestamp = buffer.pts();
        let (running_time, stream_time) = match segment.downcast_ref::<gst::ClockTime>() {
            Some(seg) => {
                (timestamp.and_then(|t| seg.to_running_time(t)), timestamp.and_then(|t| seg.to_stream_time(t)))
            }
            None => (None, None),
        };
        FacesMessage { timestamp, running_time, stream_time, faces: faces.iter().map(MessageFace::from).collect() }
    }

    pub fn to_structure(&self) -> gst::Structure {
        let faces = gst::List::new(self.faces.iter().map(|f| {
            gst::Structure::builder(Self::FACE_NAME)
                .field("x", f.x)
                .field("y", f.y)
                .field("width", f.width)
                .field("height", f.height)
                .field("score", f.score)
                .field("keypoints", gst::Array::new(f.keypoints.iter().flatten().copied()))
                .field("track-id", f.track_id)
                .field("selected", f.selected)
                .field("predicted", f.predicted)
                .field("swap-age", f.swap_age.map_or(-1, |a| a.min(i32::MAX as u32) as i32))
                .build()
        }));
        gst::Structure::builder(Self::NAME)
            .field("timestamp", self.timestamp)
            .field("running-time", self.running_time)
            .field("stream-time", self.stream_time)
            .field("faces", faces)
            .build()
    }

    /// Posts the message from `element`.
    pub fn post(&self, element: &gst::Element) {
        let _ = element.post_message(gst::message::Element::builder(self.to_structure()).src(element).build());
    }
}

fn field<'a, T: gst::glib::value::FromValue<'a> + 'static>(
    s: &'a gst::StructureRef,
    name: &str,
) -> Result<T, MessageError> {
    s.get::<T>(name).map_err(|e| MessageError(format!("{}.{name}: {e}", s.name())))
}

impl TryFrom<&gst::StructureRef> for MessageFace {
    type Error = MessageError;

    fn try_from(s: &gst::StructureRef) -> Result<Self, MessageError> {
        let values = field::<gst::Array>(s, "keypoints")?;
        let flat: Vec<f64> = values
            .iter()
            .map(|v| v.get::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|e| MessageError(format!("{}.keypoints: {e}", s.name())))?;
        if flat.len() != 10 {
            return Err(MessageError(format!("{}.keypoints holds {} values, not 10", s.name(), flat.len())));
        }
        Ok(MessageFace {
            x: field(s, "x")?,
            y: field(s, "y")?,
            width: field(s, "width")?,
            height: field(s, "height")?,
            score: field(s, "score")?,
            keypoints: std::array::from_fn(|i| [flat[2 * i], flat[2 * i + 1]]),
            track_id: field(s, "track-id")?,
            selected: field(s, "selected")?,
            predicted: field(s, "predicted")?,
            swap_age: u32::try_from(field::<i32>(s, "swap-age")?).ok(),
        })
    }
}

impl TryFrom<&gst::StructureRef> for FacesMessage {
    type Error = MessageError;

    fn try_from(s: &gst::StructureRef) -> Result<Self, MessageError> {
        if s.name() != Self::NAME {
            return Err(MessageError(format!("the structure is named {}", s.name())));
        }
        let faces = field::<gst::List>(s, "faces")?
            .iter()
            .map(|v| {
                let face = v.get::<gst::Structure>().map_err(|e| MessageError(format!("faces: {e}")))?;
                MessageFace::try_from(face.as_ref())
            })
            .collect::<Result<_, _>>()?;
        Ok(FacesMessage {
            timestamp: field(s, "timestamp")?,
            running_time: field(s, "running-time")?,
            stream_time: field(s, "stream-time")?,
            faces,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(track_id: u64) -> Face {
        Face {
            track_id,
            score: 0.875,
            bbox: [10.5, 20.0, 110.5, 140.0],
            keypoints: [[40.0, 60.0], [80.0, 60.0], [60.0, 85.0], [45.0, 110.0], [75.0, 110.25]],
            selected: true,
            predicted: track_id == 2,
            ..Default::default()
        }
    }

    #[test]
    fn a_message_round_trips_through_its_structure() {
        gst::init().unwrap();
        let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
        segment.set_start(gst::ClockTime::from_seconds(1));
        segment.set_time(gst::ClockTime::from_seconds(5));
        let mut buffer = gst::Buffer::new();
        buffer.get_mut().unwrap().set_pts(gst::ClockTime::from_mseconds(1500));
        let message = FacesMessage::new(segment.upcast_ref(), &buffer, &[face(1), face(2)]);
        assert_eq!(message.running_time, Some(gst::ClockTime::from_mseconds(500)));
        assert_eq!(message.stream_time, Some(gst::ClockTime::from_mseconds(5500)));
        assert_eq!(message.faces[0].width, 100.0);
        assert_eq!(message.faces[1].keypoints[4], [75.0, 110.25]);
        let s = message.to_structure();
        assert_eq!(s.name(), "ghost-faces");
        assert_eq!(FacesMessage::try_from(s.as_ref()), Ok(message.clone()));
        // The same name as the ROI meta's param for the track id.
        let first = s.get::<gst::List>("faces").unwrap().iter().next().unwrap().get::<gst::Structure>().unwrap();
        assert_eq!(first.get::<u64>("track-id").unwrap(), 1);

        // Without a time segment or a PTS the times are absent, and still round-trip.
        let untimed = FacesMessage::new(
            gst::FormattedSegment::<gst::format::Bytes>::new().upcast_ref(),
            &gst::Buffer::new(),
            &[],
        );
        assert_eq!(untimed, FacesMessage::default());
        assert_eq!(FacesMessage::try_from(untimed.to_structure().as_ref()), Ok(untimed));
    }

    #[test]
    fn malformed_structures_are_refused_with_the_reason() {
        gst::init().unwrap();
        let other = gst::Structure::new_empty("facedetect");
        assert!(FacesMessage::try_from(other.as_ref()).unwrap_err().to_string().contains("named facedetect"));
        let mut s = FacesMessage { faces: vec![MessageFace::from(&face(3))], ..Default::default() }.to_structure();
        let mut faces: Vec<gst::Structure> =
            s.get::<gst::List>("faces").unwrap().iter().map(|v| v.get::<gst::Structure>().unwrap()).collect();
        faces[0].set("keypoints", gst::Array::new([1.0f64, 2.0]));
        s.set("faces", gst::List::new(faces));
        let err = FacesMessage::try_from(s.as_ref()).unwrap_err().to_string();
        assert!(err.contains("keypoints holds 2 values"), "{err}");
        let mut s = FacesMessage::default().to_structure();
        s.remove_field("faces");
        assert!(FacesMessage::try_from(s.as_ref()).unwrap_err().to_string().contains("faces"));
    }
}
