// SPDX-License-Identifier: MIT OR Apache-2.0
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::glib::translate::{from_glib_none, IntoGlib, ToGlibPtr};
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::common::log_property_change;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("ghostfaceswapbin", gst::DebugColorFlags::empty(), Some("GHOST face swap bin"))
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    Detect,
    Track,
    Swap,
    Enhance,
    Blend,
}

/// Every proxied property: the bin's name, and which child properties it sets. The first target
/// also defines the property's type, range, default and description.
const ROUTES: &[(&str, &[(Role, &str)])] = &[
    ("source", &[(Role::Swap, "source")]),
    ("source-embedding", &[(Role::Swap, "source-embedding")]),
    ("model", &[(Role::Swap, "model")]),
    ("detector", &[(Role::Detect, "model"), (Role::Swap, "detector")]),
    ("recognizer", &[(Role::Swap, "recognizer")]),
    ("converter", &[(Role::Swap, "converter")]),
    ("enhancer", &[(Role::Enhance, "model")]),
    ("landmarker", &[(Role::Blend, "landmarker")]),
    ("parser", &[(Role::Blend, "parser")]),
    ("targets", &[(Role::Swap, "targets")]),
    ("reference", &[(Role::Swap, "reference")]),
    ("similarity-threshold", &[(Role::Swap, "similarity-threshold")]),
    ("interval", &[(Role::Detect, "interval")]),
    ("lookahead", &[(Role::Track, "lookahead")]),
    ("track-method", &[(Role::Track, "method")]),
    ("swap-mode", &[(Role::Swap, "mode")]),
    ("swap-max-age", &[(Role::Swap, "max-age")]),
    ("mask", &[(Role::Blend, "mask")]),
    ("color-correct", &[(Role::Blend, "color-correct")]),
    (
        "execution-provider",
        &[
            (Role::Detect, "execution-provider"),
            (Role::Swap, "execution-provider"),
            (Role::Enhance, "execution-provider"),
            (Role::Blend, "execution-provider"),
        ],
    ),
    (
        "device-id",
        &[
            (Role::Detect, "device-id"),
            (Role::Swap, "device-id"),
            (Role::Enhance, "device-id"),
            (Role::Blend, "device-id"),
        ],
    ),
    (
        "inference-server",
        &[
            (Role::Detect, "inference-server"),
            (Role::Swap, "inference-server"),
            (Role::Enhance, "inference-server"),
            (Role::Blend, "inference-server"),
        ],
    ),
    (
        "inference-timeout",
        &[
            (Role::Detect, "inference-timeout"),
            (Role::Swap, "inference-timeout"),
            (Role::Enhance, "inference-timeout"),
            (Role::Blend, "inference-timeout"),
        ],
    ),
    (
        "inference-shared-memory",
        &[
            (Role::Detect, "inference-shared-memory"),
            (Role::Swap, "inference-shared-memory"),
            (Role::Enhance, "inference-shared-memory"),
            (Role::Blend, "inference-shared-memory"),
        ],
    ),
];

fn factory_name(role: Role) -> &'static str {
    match role {
        Role::Detect => "ghostfacedetect",
        Role::Track => "ghostfacetrack",
        Role::Swap => "ghostfaceswap",
        Role::Enhance => "ghostfaceenhance",
        Role::Blend => "ghostfaceblend",
    }
}

/// Children are named by their role, so applications can find them (`bin.by_name("swap")`).
fn child_name(role: Role) -> &'static str {
    match role {
        Role::Detect => "detect",
        Role::Track => "track",
        Role::Swap => "swap",
        Role::Enhance => "enhance",
        Role::Blend => "blend",
    }
}

fn child_type(role: Role) -> glib::Type {
    match role {
        Role::Detect => crate::facedetect::FaceDetect::static_type(),
        Role::Track => crate::facetrack::FaceTrack::static_type(),
        Role::Swap => crate::faceswap::FaceSwap::static_type(),
        Role::Blend => crate::faceblend::FaceBlend::static_type(),
        // The enhancer is looked up by name: it is optional in the chain.
        Role::Enhance => glib::Type::INVALID,
    }
}

/// A new param spec for the bin with the same type, range, default and text as a child's.
fn proxy_spec(name: &str, child: &glib::ParamSpec) -> glib::ParamSpec {
    let flags =
        child.flags() & (glib::ParamFlags::READWRITE | gst::PARAM_FLAG_MUTABLE_PLAYING | gst::PARAM_FLAG_MUTABLE_READY);
    let blurb = child.blurb().unwrap_or_default();
    if let Some(p) = child.downcast_ref::<glib::ParamSpecString>() {
        return glib::ParamSpecString::builder(name)
            .nick(child.nick())
            .blurb(blurb)
            .default_value(p.default_value())
            .flags(flags)
            .build();
    }
    if let Some(p) = child.downcast_ref::<glib::ParamSpecFloat>() {
        return glib::ParamSpecFloat::builder(name)
            .nick(child.nick())
            .blurb(blurb)
            .minimum(p.minimum())
            .maximum(p.maximum())
            .default_value(p.default_value())
            .flags(flags)
            .build();
    }
    if let Some(p) = child.downcast_ref::<glib::ParamSpecUInt>() {
        return glib::ParamSpecUInt::builder(name)
            .nick(child.nick())
            .blurb(blurb)
            .minimum(p.minimum())
            .maximum(p.maximum())
            .default_value(p.default_value())
            .flags(flags)
            .build();
    }
    if let Some(p) = child.downcast_ref::<glib::ParamSpecInt>() {
        return glib::ParamSpecInt::builder(name)
            .nick(child.nick())
            .blurb(blurb)
            .minimum(p.minimum())
            .maximum(p.maximum())
            .default_value(p.default_value())
            .flags(flags)
            .build();
    }
    if let Some(p) = child.downcast_ref::<glib::ParamSpecBoolean>() {
        return glib::ParamSpecBoolean::builder(name)
            .nick(child.nick())
            .blurb(blurb)
            .default_value(p.default_value())
            .flags(flags)
            .build();
    }
    if let Some(p) = child.downcast_ref::<glib::ParamSpecEnum>() {
        // SAFETY: plain GObject constructor; the returned floating spec is sunk by from_glib_none.
        return unsafe {
            from_glib_none(glib::gobject_ffi::g_param_spec_enum(
                name.to_glib_none().0,
                child.nick().to_glib_none().0,
                blurb.to_glib_none().0,
                child.value_type().into_glib(),
                p.default_value_as_i32(),
                flags.into_glib(),
            ))
        };
    }
    unreachable!("no proxy for property {name} of type {}", child.value_type())
}

struct Chain {
    children: HashMap<Role, gst::Element>,
    /// The queue after the swapper, where the enhancer is spliced in.
    swap_queue: gst::Element,
    out_filter: gst::Element,
}

pub struct FaceSwapBin {
    sinkpad: gst::GhostPad,
    srcpad: gst::GhostPad,
    chain: Mutex<Option<Chain>>,
    /// The enhancer model; the enhancer exists only while it is set.
    enhancer_model: Mutex<Option<String>>,
    /// Why the chain could not be built (a missing element), reported at the first state change.
    build_error: Mutex<Option<String>>,
}

#[glib::object_subclass]
impl ObjectSubclass for FaceSwapBin {
    const NAME: &'static str = "GstGhostFaceSwapBin";
    type Type = super::FaceSwapBin;
    type ParentType = gst::Bin;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = gst::GhostPad::builder_from_template(&klass.pad_template("sink").unwrap()).name("sink").build();
        let srcpad = gst::GhostPad::builder_from_template(&klass.pad_template("src").unwrap()).name("src").build();
        Self {
            sinkpad,
            srcpad,
            chain: Mutex::new(None),
            enhancer_model: Mutex::new(None),
            build_error: Mutex::new(None),
        }
    }
}

fn make(factory: &str, name: &str) -> Result<gst::Element, String> {
    gst::ElementFactory::make(factory)
        .name(name)
        .build()
        .map_err(|_| format!("element {factory} is missing (install gstreamer1.0-plugins-base and the core elements)"))
}

fn queue(name: &str) -> Result<gst::Element, String> {
    let q = make("queue", name)?;
    // A few frames are enough to decouple the stages; larger queues only hold memory.
    q.set_property("max-size-buffers", 3u32);
    q.set_property("max-size-bytes", 0u32);
    q.set_property("max-size-time", 0u64);
    Ok(q)
}

impl FaceSwapBin {
    /// Creates and links the children; a missing element is reported at the first state change.
    fn build_chain(&self) -> Result<Chain, String> {
        let bin = self.obj();
        let in_convert = make("videoconvert", "in-convert")?;
        let out_convert = make("videoconvert", "out-convert")?;
        let out_filter = make("capsfilter", "out-format")?;
        let mut children = HashMap::new();
        for role in [Role::Detect, Role::Track, Role::Swap, Role::Blend] {
            children.insert(role, make(factory_name(role), child_name(role))?);
        }
        let (q1, q2, q3) = (queue("queue-detect")?, queue("queue-track")?, queue("queue-swap")?);
        let order = [
            &in_convert,
            &children[&Role::Detect],
            &q1,
            &children[&Role::Track],
            &q2,
            &children[&Role::Swap],
            &q3,
            &children[&Role::Blend],
            &out_convert,
            &out_filter,
        ];
        bin.add_many(order).map_err(|e| e.to_string())?;
        gst::Element::link_many(order).map_err(|e| e.to_string())?;
        let target = |e: &gst::Element, pad: &str| e.static_pad(pad).ok_or(format!("{} has no {pad} pad", e.name()));
        self.sinkpad.set_target(Some(&target(&in_convert, "sink")?)).map_err(|e| e.to_string())?;
        self.srcpad.set_target(Some(&target(&out_filter, "src")?)).map_err(|e| e.to_string())?;
        Ok(Chain { children, swap_queue: q3, out_filter })
    }

    /// Adds or removes the enhancer (only present when `enhancer` is set); called in NULL/READY.
    fn update_enhancer(&self) -> Result<(), gst::StateChangeError> {
        let model = self.enhancer_model.lock().unwrap().clone().filter(|s| !s.is_empty());
        let wanted = model.is_some();
        let mut guard = self.chain.lock().unwrap();
        let Some(chain) = guard.as_mut() else {
            let why = self.build_error.lock().unwrap().clone().unwrap_or_default();
            gst::element_imp_error!(self, gst::CoreError::MissingPlugin, ("could not build the chain: {}", why));
            return Err(gst::StateChangeError);
        };
        let present = chain.children.contains_key(&Role::Enhance);
        if wanted == present {
            return Ok(());
        }
        let bin = self.obj();
        let blend = chain.children[&Role::Blend].clone();
        if wanted {
            let Ok(enhance) =
                gst::ElementFactory::make(factory_name(Role::Enhance)).name(child_name(Role::Enhance)).build()
            else {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::MissingPlugin,
                    ("ghostfaceenhance is not available in this build")
                );
                return Err(gst::StateChangeError);
            };
            enhance.set_property("model", model);
            // The other proxied properties the enhancer shares (execution provider, inference server, ...):
            // take each from another child of the same route, which holds the bin's value.
            for (_, targets) in ROUTES {
                let Some(&(_, prop)) = targets.iter().find(|(r, p)| *r == Role::Enhance && *p != "model") else {
                    continue;
                };
                if let Some((role, other)) = targets.iter().find(|(r, _)| *r != Role::Enhance) {
                    enhance.set_property_from_value(prop, &chain.children[role].property_value(other));
                }
            }
            let Ok(q4) = queue("queue-enhance") else { return Err(gst::StateChangeError) };
            chain.swap_queue.unlink(&blend);
            bin.add_many([&enhance, &q4]).map_err(|_| gst::StateChangeError)?;
            gst::Element::link_many([&chain.swap_queue, &enhance, &q4, &blend]).map_err(|_| gst::StateChangeError)?;
            chain.children.insert(Role::Enhance, enhance);
        } else {
            let enhance = chain.children.remove(&Role::Enhance).expect("present, checked above");
            if let Some(q4) = bin.by_name("queue-enhance") {
                bin.remove_many([&enhance, &q4]).map_err(|_| gst::StateChangeError)?;
            }
            chain.swap_queue.link(&blend).map_err(|_| gst::StateChangeError)?;
        }
        Ok(())
    }

    /// Keeps the output in the input's format: the last capsfilter follows the sink caps.
    fn on_sink_caps(&self, caps: &gst::CapsRef) {
        let Some(s) = caps.structure(0) else { return };
        let Ok(format) = s.get::<&str>("format") else { return };
        let mut out = gst::Caps::builder("video/x-raw").field("format", format);
        for field in ["colorimetry", "chroma-site"] {
            if let Ok(v) = s.get::<&str>(field) {
                out = out.field(field, v);
            }
        }
        if let Some(chain) = self.chain.lock().unwrap().as_ref() {
            chain.out_filter.set_property("caps", out.build());
        }
        gst::debug!(CAT, imp = self, "output format follows the input: {format}");
    }
}

impl ObjectImpl for FaceSwapBin {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            ROUTES
                .iter()
                .map(|(name, targets)| {
                    let (role, child_prop) = targets[0];
                    if role == Role::Enhance {
                        return glib::ParamSpecString::builder(name)
                            .nick("Enhancer model")
                            .blurb("Face restoration model for ghostfaceenhance (GHOST SR, GFPGAN, GPEN); unset = no enhancement stage")
                            .mutable_ready()
                            .build();
                    }
                    let class = glib::object::ObjectClass::from_type(child_type(role)).expect("child class");
                    let spec = class.find_property(child_prop).unwrap_or_else(|| panic!("{} has no property {child_prop}", factory_name(role)));
                    proxy_spec(name, &spec)
                })
                .collect()
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        log_property_change(*CAT, self.obj().upcast_ref(), pspec, value);
        let (_, targets) = ROUTES.iter().find(|(n, _)| *n == pspec.name()).expect("routed property");
        let chain = self.chain.lock().unwrap();
        for (role, child_prop) in targets.iter() {
            if *role == Role::Enhance && *child_prop == "model" {
                *self.enhancer_model.lock().unwrap() = value.get::<Option<String>>().expect("type checked upstream");
            }
            if let Some(child) = chain.as_ref().and_then(|c| c.children.get(role)) {
                child.set_property_from_value(child_prop, value);
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let (_, targets) = ROUTES.iter().find(|(n, _)| *n == pspec.name()).expect("routed property");
        let (role, child_prop) = targets[0];
        if role == Role::Enhance {
            return self.enhancer_model.lock().unwrap().to_value();
        }
        let chain = self.chain.lock().unwrap();
        match chain.as_ref() {
            Some(c) => c.children[&role].property_value(child_prop),
            None => pspec.default_value().clone(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        match self.build_chain() {
            Ok(chain) => *self.chain.lock().unwrap() = Some(chain),
            Err(e) => {
                gst::error!(CAT, imp = self, "{e}");
                *self.build_error.lock().unwrap() = Some(e);
            }
        }
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
        let weak = obj.downgrade();
        self.sinkpad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let (Some(gst::PadProbeData::Event(event)), Some(bin)) = (&info.data, weak.upgrade()) {
                if let gst::EventView::Caps(c) = event.view() {
                    bin.imp().on_sink_caps(c.caps());
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
}

impl GstObjectImpl for FaceSwapBin {}

impl ElementImpl for FaceSwapBin {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "GHOST face swap bin",
                "Filter/Effect/Video",
                "Swaps faces in any raw video: detect, track, swap, (enhance,) blend, with format conversion inside and the input's format out",
                "gst-ghost developers",
            )
        });
        Some(&META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::new_empty_simple("video/x-raw");
            vec![
                gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &caps).unwrap(),
                gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps).unwrap(),
            ]
        });
        T.as_ref()
    }

    fn change_state(&self, transition: gst::StateChange) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        // `enhancer` may change in NULL and READY: applied on the way out of either.
        if matches!(transition, gst::StateChange::NullToReady | gst::StateChange::ReadyToPaused) {
            self.update_enhancer()?;
        }
        self.parent_change_state(transition)
    }
}

impl BinImpl for FaceSwapBin {}
