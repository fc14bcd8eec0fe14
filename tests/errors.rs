// SPDX-License-Identifier: MIT OR Apache-2.0
//! Start errors land in the GStreamer error domain that fits their cause, and their messages do not
//! repeat the element's name (GStreamer already names the element).

use gst::prelude::*;

mod common;

/// The first error message of `videotestsrc num-buffers=2 ! {middle} ! fakesink`.
fn first_error(middle: &str) -> gst::glib::Error {
    common::start_error(middle, 60)
}

fn check(middle: &str, domain_matches: impl Fn(&gst::glib::Error) -> bool, text: &str) {
    let e = first_error(middle);
    assert!(domain_matches(&e), "{middle}: wrong domain for '{e}' ({:?})", e.domain());
    assert!(e.message().contains(text), "{middle}: '{e}' lacks '{text}'");
    assert!(!e.message().starts_with("ghostface"), "{middle}: '{e}' names the element");
}

#[test]
fn settings_mistakes_are_library_settings_errors() {
    let settings = |e: &gst::glib::Error| e.matches(gst::LibraryError::Settings);
    check("ghostfaceswap model=paste", settings, "model=paste needs a source photo");
    check("ghostfaceenhance", settings, "no enhancer model");
    check("ghostfaceblend mask=parser", settings, "mask=parser needs a 'parser' model");
    check(
        &format!(
            "ghostfaceswap model={} source={}",
            common::test_model("swapper_identity.onnx"),
            common::data("biden.jpg").display()
        ),
        settings,
        "needs the source identity",
    );
}

#[test]
fn missing_files_are_not_found_errors() {
    let not_found = |e: &gst::glib::Error| e.matches(gst::ResourceError::NotFound);
    check("ghostfaceswap model=no_such_generator source=x.jpg", not_found, "'no_such_generator' not found");
    check("ghostfacedetect model=/nonexistent/detector.onnx", not_found, "/nonexistent/detector.onnx");
    check("ghostfaceswap model=paste source=/nonexistent/me.jpg", not_found, "source photo /nonexistent/me.jpg");
}

#[test]
fn unreadable_or_wrong_files_are_open_read_errors() {
    let open_read = |e: &gst::glib::Error| e.matches(gst::ResourceError::OpenRead);
    // A file that is not a photo.
    let not_a_photo = common::output_dir().join("not-a-photo.jpg");
    std::fs::write(&not_a_photo, b"plain text").unwrap();
    check(
        &format!("ghostfaceswap model=paste source={}", not_a_photo.display()),
        open_read,
        "cannot read source photo",
    );
    // A model whose tensors are not a detector's.
    check(
        &format!("ghostfacedetect model={}", common::test_model("wrong_signature.onnx")),
        open_read,
        "does not match",
    );
}

#[test]
fn a_photo_without_a_face_names_its_role() {
    // A grey PNG: readable, but there is no face in it.
    let grey = common::output_dir().join("grey-no-face.png");
    image::RgbImage::from_pixel(200, 200, image::Rgb([128, 128, 128])).save(&grey).unwrap();
    let e = first_error(&format!("ghostfaceswap model=paste source={}", grey.display()));
    assert!(e.matches(gst::ResourceError::Failed), "{e}");
    assert!(e.message().contains("no face found in source photo"), "{e}");
}

/// `execution-provider=auto` on this machine (no CUDA) puts every session on the CPU: each element
/// that loads a model says so on the bus, once per model, naming the file.
#[test]
fn cpu_fallbacks_are_warned_once_per_model() {
    common::init();
    let (scrfd, enhancer, landmarker) = (
        common::test_model("scrfd_test.onnx"),
        common::test_model("enhancer_gpen256_identity.onnx"),
        common::test_model("landmark106_test.onnx"),
    );
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGB,width=64,height=48 ! ghostfacedetect model={scrfd} ! \
         ghostfaceenhance model={enhancer} ! ghostfaceblend landmarker={landmarker} ! fakesink"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let mut warnings = Vec::new();
    while let Some(message) = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(60),
        &[gst::MessageType::Warning, gst::MessageType::Error, gst::MessageType::Eos],
    ) {
        match message.view() {
            gst::MessageView::Warning(w) => warnings.push(w.error().message().to_string()),
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => break,
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    for model in ["scrfd_test.onnx", "enhancer_gpen256_identity.onnx", "landmark106_test.onnx"] {
        let about: Vec<_> = warnings.iter().filter(|w| w.contains(model) && w.contains("runs on the CPU")).collect();
        assert_eq!(about.len(), 1, "{model}: {warnings:?}");
    }
}
