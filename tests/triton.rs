// SPDX-License-Identifier: MIT OR Apache-2.0
//! Models served by a real NVIDIA Triton Inference Server (KServe v2 gRPC), started here on 127.0.0.1:
//! the served chain gives the in-process output, contract errors read as for files, an unreachable
//! server or a missing model is a clear error, a server killed (or hung) mid-stream costs unswapped
//! frames and one warning, never a frame, and swapping resumes when it is back; two pipelines share one
//! server. The repository is written by `ghost_models::triton_repo` (its python-backend variant, the
//! one the tritonserver of the nvidia-pytriton wheel can run) and served by
//! plugin-data/tools/serve_triton.py. The server cannot be skipped: a missing install fails the tests.

use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstghost::meta::FacesMeta;
use gstghost::models::swapper::GhostGenerator;
use gstghost::runtime::{load_model, ServerOptions, SessionOptions};
use gstghost::vision::{resize_rgb, Filter, RgbImage};

mod common;
use common::triton_server::{write_repo, TritonServer};

/// Generous: the python backend shares two busy cores with the test; a run that timed out would pass a
/// frame through unswapped and fail the comparison for the wrong reason.
const TIMEOUT_MS: u32 = 30_000;

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// The shared server of this test binary (started on first use, stopped at exit).
static SHARED: LazyLock<Mutex<Option<TritonServer>>> = LazyLock::new(|| Mutex::new(None));

extern "C" fn stop_shared_server() {
    if let Ok(mut guard) = SHARED.try_lock() {
        guard.take();
    }
}

/// The shared server serves every model as `srv_` + its file stem: a served name never resolves to a local
/// file, so a served pipeline that passes cannot have run the model in-process.
const SERVED: &str = "srv_";

const SHARED_MODELS: &[&str] = &[
    "swapper_mix",
    "swapper_conv_half",
    "arcface_w600k_test",
    "converter_test",
    "enhancer_ghostsr_identity",
    "enhancer_wrong",
    "landmark106_test",
    "parser_test",
    "scrfd_const",
    "scrfd_nokps",
    "wrong_signature",
];

fn shared_server() -> String {
    common::init();
    let mut guard = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        let dir = common::output_dir().join(format!("triton-repo-{}", std::process::id()));
        let mut files: Vec<PathBuf> =
            SHARED_MODELS.iter().map(|m| models_dir().join("test").join(format!("{m}.onnx"))).collect();
        files.push(models_dir().join("mtcnn"));
        write_repo(&dir, &files, Default::default(), SERVED);
        let server = TritonServer::start(&dir, None, &common::output_dir().join("triton-shared.log"));
        eprintln!("shared test inference server at {} ready in {:?}", server.address, server.started_in);
        // SAFETY: registers a plain `extern "C" fn()` that takes the server out of its mutex (try_lock: never
        // blocks) and drops it, which stops it; it runs once, at process exit.
        unsafe {
            libc::atexit(stop_shared_server);
        }
        *guard = Some(server);
    }
    guard.as_ref().expect("started above").address.clone()
}

/// Test frames, all 400x320: the top of a photo (where its face is) scaled down (MTCNN on the full photo
/// would dominate the run time).
fn frame(name: &str) -> RgbImage {
    let p = common::photo(name);
    let h = p.width * 4 / 5;
    let top = RgbImage::from_raw(p.width, h, p.data[..p.width * h * 3].to_vec());
    resize_rgb(&top, 400, 320, Filter::Area)
}

fn served(address: &str, shm: bool) -> String {
    format!("inference-server={address} inference-timeout={TIMEOUT_MS} inference-shared-memory={shm}")
}

/// The whole chain (detector in-process: the built-in MTCNN stays local) with every other model named
/// by name: the test files in-process, or the same files on the server.
fn chain(source: &str, server: Option<String>) -> String {
    let p = if server.is_some() { SERVED } else { "" };
    format!(
        "ghostfaceswapbin source={} model={p}swapper_mix recognizer={p}arcface_w600k_test converter={p}converter_test \
         enhancer={p}enhancer_ghostsr_identity landmarker={p}landmark106_test parser={p}parser_test {}",
        common::data(source).display(),
        server.unwrap_or_default()
    )
}

fn pixels(buffers: &[gst::Buffer], like: &RgbImage) -> Vec<RgbImage> {
    buffers.iter().map(|b| common::buffer_to_rgb(b, like.width, like.height)).collect()
}

fn max_diff(a: &RgbImage, b: &RgbImage) -> u8 {
    a.data.iter().zip(&b.data).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0)
}

fn assert_same_frames(served: &[RgbImage], local: &[RgbImage], what: &str) {
    assert_eq!(served.len(), local.len(), "{what}: frame count");
    for (i, (s, l)) in served.iter().zip(local).enumerate() {
        let d = max_diff(s, l);
        assert!(d <= 1, "{what}: frame {i} differs by up to {d} grey levels from the in-process frame");
    }
}

#[test]
fn kserve_protocol_subset_matches_the_tritonclient_descriptors() {
    let fds = common::output_dir().join("inference.fds");
    std::fs::write(&fds, gstghost::runtime::triton::KSERVE_DESCRIPTOR_SET).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plugin-data/tools/check_kserve_proto.py");
    let out = std::process::Command::new(common::triton_server::python()).arg(script).arg(&fds).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("OK: ") && text.contains("match the tritonclient descriptors"), "{text}");
}

#[test]
fn the_served_chain_gives_the_in_process_frames_with_and_without_shared_memory() {
    let address = shared_server();
    let frames = vec![frame("biden.jpg"), frame("obama.jpg")];
    let local = pixels(&common::run_frames(&chain("obama.jpg", None), &frames).unwrap(), &frames[0]);
    // The chain did swap: the frames changed.
    assert!(local.iter().zip(&frames).all(|(o, i)| max_diff(o, i) > 40), "nothing was swapped in-process");
    for shm in [true, false] {
        let out = common::run_frames(&chain("obama.jpg", Some(served(&address, shm))), &frames)
            .unwrap_or_else(|e| panic!("served chain (shared memory {shm}): {e}"));
        assert_same_frames(&pixels(&out, &frames[0]), &local, &format!("shared memory {shm}"));
    }
}

#[test]
fn two_pipelines_share_one_server() {
    let address = shared_server();
    let runs = [("biden.jpg", "obama.jpg"), ("obama.jpg", "biden.jpg")];
    let locals: Vec<Vec<RgbImage>> = runs
        .iter()
        .map(|(f, s)| {
            let frames = vec![frame(f); 3];
            pixels(&common::run_frames(&chain(s, None), &frames).unwrap(), &frames[0])
        })
        .collect();
    let served_runs: Vec<Vec<RgbImage>> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|(f, s)| {
                let address = address.clone();
                scope.spawn(move || {
                    let frames = vec![frame(f); 3];
                    let out = common::run_frames(&chain(s, Some(served(&address, true))), &frames).unwrap();
                    pixels(&out, &frames[0])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, (s, l)) in served_runs.iter().zip(&locals).enumerate() {
        assert_same_frames(s, l, &format!("pipeline {i}"));
    }
    // The two pipelines swapped different identities: their outputs differ.
    assert!(max_diff(&served_runs[0][0], &locals[1][0]) > 0);
}

/// A detected face: box, keypoints, score.
type Found = ([f32; 4], [[f32; 2]; 5], f32);

/// The faces the detector attaches to each frame.
fn detections(middle: &str, frames: &[RgbImage]) -> Vec<Vec<Found>> {
    let out = common::run_frames(middle, frames).unwrap_or_else(|e| panic!("{middle}: {e}"));
    out.iter()
        .map(|b| {
            let meta = FacesMeta::from_buffer(b).expect("face meta");
            assert!(meta.detection_ran);
            meta.faces.iter().map(|f| (f.bbox, f.keypoints, f.score)).collect()
        })
        .collect()
}

#[test]
fn served_detectors_find_the_in_process_faces() {
    let address = shared_server();
    let frames = vec![frame("obama.jpg"), frame("biden.jpg")];
    // SCRFD on the server, and the fixed-size SCRFD model in-process: identical detections.
    let local = detections("ghostfacedetect model=scrfd_const", &frames);
    assert_eq!(local[0].len(), 1);
    let served_scrfd = format!("ghostfacedetect model={SERVED}scrfd_const {}", served(&address, true));
    assert_eq!(detections(&served_scrfd, &frames), local);
    // MTCNN with its three networks served (named explicitly) against the in-process networks run by
    // ONNX Runtime: the same faces, boxes within a hundredth of a pixel.
    let mut reference = gstghost::models::Detector::open(
        &gstghost::models::resolve_model("mtcnn").unwrap(),
        &SessionOptions { threads: 1, ..Default::default() },
    )
    .unwrap();
    let gstghost::models::Detector::Mtcnn(m) = &mut reference else { panic!("mtcnn") };
    m.set_native(false);
    let nets = format!("{SERVED}mtcnn_pnet,{SERVED}mtcnn_rnet,{SERVED}mtcnn_onet");
    let served_mtcnn = detections(&format!("ghostfacedetect model={nets} {}", served(&address, true)), &frames);
    for (f, got) in frames.iter().zip(&served_mtcnn) {
        let want = reference.detect(&gstghost::vision::PackedFrame::from_rgb(f), &Default::default()).unwrap();
        assert_eq!(got.len(), want.len());
        assert!(!want.is_empty());
        for (g, w) in got.iter().zip(&want) {
            assert!(g.0.iter().zip(&w.bbox).all(|(a, b)| (a - b).abs() < 0.01), "{:?} vs {:?}", g.0, w.bbox);
            assert!((g.2 - w.score).abs() < 1e-5);
        }
    }
}

#[test]
fn requests_are_split_at_the_servers_max_batch_size() {
    let address = shared_server();
    let server = ServerOptions { address, timeout_ms: TIMEOUT_MS, shared_memory: true };
    let options = SessionOptions { server: Some(server), ..Default::default() };
    let served = GhostGenerator::open(std::path::Path::new("srv_swapper_mix"), &options).unwrap();
    assert_eq!(served.model().max_batch(), Some(8));
    assert!(served.model().uses_shared_memory());
    // The config carries the file's family (written by triton-repo from the ONNX metadata).
    assert_eq!(served.model().meta("gst_ghost_family"), Some("ghost-swapper"));
    let local = GhostGenerator::open(&models_dir().join("test/swapper_mix.onnx"), &Default::default()).unwrap();
    let base = frame("obama.jpg");
    let crops: Vec<RgbImage> = (0..11).map(|i| resize_rgb(&base, 256 + i % 2, 256, Filter::Area)).collect();
    let crops: Vec<RgbImage> = crops.iter().map(|c| resize_rgb(c, 256, 256, Filter::Bilinear)).collect();
    let refs: Vec<&RgbImage> = crops.iter().collect();
    let identity: Vec<f32> = (0..512).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
    // 11 crops: requests of 8 and 3.
    let (s, l) = (served.swap(&refs, &identity).unwrap(), local.swap(&refs, &identity).unwrap());
    assert_eq!(s.len(), 11);
    for (a, b) in s.iter().zip(&l) {
        assert!(max_diff(a.as_ref().unwrap(), b.as_ref().unwrap()) <= 1);
    }
    // A model without server batching takes one item per request.
    let landmarks = load_model(std::path::Path::new("srv_landmark106_test"), &options).unwrap();
    assert_eq!((landmarks.max_batch(), landmarks.chunk(5)), (None, 1));
}

/// The error a pipeline posts when `middle` starts.
fn start_error(middle: &str) -> gst::glib::Error {
    common::start_error(middle, 120)
}

#[test]
fn contract_errors_read_as_for_a_file() {
    let address = shared_server();
    let source = common::data("obama.jpg").display().to_string();
    let swap = |rest: &str| format!("ghostfaceswap source={source} {rest}");
    // (element with the model property set to MODEL, the contract it names)
    let cases = [
        (swap("model=MODEL recognizer=PREFIXarcface_w600k_test converter=PREFIXconverter_test"), "swapper_conv_half"),
        (swap("model=PREFIXswapper_mix recognizer=MODEL converter=PREFIXconverter_test"), "wrong_signature"),
        (swap("model=PREFIXswapper_mix recognizer=PREFIXarcface_w600k_test converter=MODEL"), "wrong_signature"),
        ("ghostfaceenhance model=MODEL".to_string(), "enhancer_wrong"),
        ("ghostfaceblend landmarker=MODEL".to_string(), "wrong_signature"),
        ("ghostfaceblend parser=MODEL".to_string(), "wrong_signature"),
        ("ghostfacedetect model=MODEL".to_string(), "wrong_signature"),
        ("ghostfacedetect model=MODEL".to_string(), "scrfd_nokps"),
    ];
    for (middle, model) in cases {
        // In-process, models named by name resolve to the test files; the file's path is in the message.
        let local = start_error(&middle.replace("MODEL", model).replace("PREFIX", ""));
        let remote_middle = middle.replace("MODEL", &format!("{SERVED}{model}")).replace("PREFIX", SERVED);
        let remote = start_error(&format!("{remote_middle} {}", served(&address, true)));
        let open_read = |e: &gst::glib::Error| e.matches(gst::ResourceError::OpenRead);
        assert!(open_read(&local) && open_read(&remote), "{middle}: {local} / {remote}");
        let (l, r) = (local.message().to_string(), remote.message().to_string());
        let label = format!("model '{SERVED}{model}' on {address}");
        assert!(r.starts_with(&label), "{r}");
        let file = format!("{model}.onnx");
        let cut = l.find(&file).map(|i| i + file.len()).unwrap_or_else(|| panic!("{l}"));
        assert_eq!(&r[label.len()..], &l[cut..], "{middle}: the served error differs from the file's");
    }
    // MTCNN's networks in the wrong order.
    let nets = format!("{SERVED}mtcnn_rnet,{SERVED}mtcnn_pnet,{SERVED}mtcnn_onet");
    let e = start_error(&format!("ghostfacedetect model={nets} {}", served(&address, true)));
    assert!(e.matches(gst::ResourceError::OpenRead), "{e}");
    assert!(e.message().contains("'srv_mtcnn_rnet'") && e.message().contains("MTCNN P-Net contract"), "{e}");
}

#[test]
fn a_missing_model_or_an_unreachable_server_is_a_clear_error() {
    let address = shared_server();
    let e = start_error(&format!("ghostfaceenhance model=no_such_enhancer {}", served(&address, true)));
    assert!(e.matches(gst::ResourceError::NotFound), "{e}");
    let text = e.message().to_string();
    assert!(text.contains(&format!("model 'no_such_enhancer' is not on the inference server {address}")), "{text}");
    // Nothing listens on a port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let start = Instant::now();
    let e = start_error(&format!(
        "ghostfaceswap model=swapper_mix source-embedding=x.npy inference-server=grpc://127.0.0.1:{port}"
    ));
    assert!(e.matches(gst::ResourceError::OpenRead), "{e}");
    let text = e.message().to_string();
    assert!(
        text.contains(&format!("cannot reach the inference server grpc://127.0.0.1:{port} for model 'swapper_mix'")),
        "{text}"
    );
    assert!(start.elapsed() < Duration::from_secs(60), "no hang: {:?}", start.elapsed());
    let e = start_error("ghostfaceenhance model=x inference-server=grpcs://10.0.0.5:8001");
    assert!(e.matches(gst::LibraryError::Settings) && e.message().contains("TLS is not supported"), "{e}");
}

/// One frame in, one frame out, through a live pipeline; `swapped` tells whether the frame left with a
/// swapped face.
struct Stream {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: gst_app::AppSink,
    frame: RgbImage,
    pushed: u64,
    pulled: u64,
}

impl Stream {
    fn new(middle: &str, frame: RgbImage) -> Self {
        common::init();
        let (w, h) = (frame.width, frame.height);
        let desc = format!(
            "appsrc name=src format=time caps=video/x-raw,format=RGB,width={w},height={h},framerate=30/1 ! {middle} ! \
             appsink name=sink sync=false"
        );
        let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
        let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
        let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
        pipeline.set_state(gst::State::Playing).expect("the pipeline starts");
        Self { pipeline, src, sink, frame, pushed: 0, pulled: 0 }
    }

    /// Pushes a frame and waits for it; (swapped, how long it took).
    fn step(&mut self) -> (bool, Duration) {
        let t0 = Instant::now();
        self.src.push_buffer(common::frames::rgb_buffer(&self.frame, self.pushed * 33)).unwrap();
        self.pushed += 1;
        let sample = self.sink.try_pull_sample(gst::ClockTime::from_seconds(120)).expect("every frame comes out");
        self.pulled += 1;
        let buffer = sample.buffer().unwrap();
        let swapped = FacesMeta::from_buffer(buffer).is_some_and(|m| m.faces.iter().any(|f| f.swap.is_some()));
        (swapped, t0.elapsed())
    }

    /// Steps until a frame is swapped again (at most `limit`); returns how many frames that took.
    fn until_swapped(&mut self, limit: Duration) -> usize {
        let t0 = Instant::now();
        let mut n = 0;
        loop {
            n += 1;
            if self.step().0 {
                return n;
            }
            assert!(t0.elapsed() < limit, "swapping did not resume within {limit:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// (warnings, errors) posted on the bus so far.
    fn bus_messages(&self) -> (Vec<String>, Vec<String>) {
        let (mut warnings, mut errors) = (Vec::new(), Vec::new());
        let bus = self.pipeline.bus().unwrap();
        while let Some(msg) = bus.pop() {
            match msg.view() {
                gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
                gst::MessageView::Error(e) => errors.push(e.error().to_string()),
                _ => {}
            }
        }
        (warnings, errors)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[test]
fn a_server_killed_or_hung_mid_stream_costs_unswapped_frames_and_one_warning_then_swapping_resumes() {
    common::init();
    let dir = common::output_dir().join(format!("triton-repo-restart-{}", std::process::id()));
    let files: Vec<PathBuf> = ["swapper_mix", "arcface_w600k_test", "converter_test"]
        .iter()
        .map(|m| models_dir().join("test").join(format!("{m}.onnx")))
        .collect();
    write_repo(&dir, &files, Default::default(), SERVED);
    let mut server = TritonServer::start(&dir, None, &common::output_dir().join("triton-restart.log"));
    let timeout_ms = 2000;
    let middle = format!(
        "ghostfacedetect ! ghostfacetrack ! ghostfaceswap name=swap source={} model={SERVED}swapper_mix \
         recognizer={SERVED}arcface_w600k_test converter={SERVED}converter_test inference-server={} \
         inference-timeout={timeout_ms}",
        common::data("obama.jpg").display(),
        server.address
    );
    let mut stream = Stream::new(&middle, frame("biden.jpg"));
    for _ in 0..3 {
        assert!(stream.step().0, "swapped while the server is up");
    }

    // Hung: the frame waits for the timeout at most, then frames pass at once.
    server.pause(true);
    let (swapped, waited) = stream.step();
    assert!(!swapped);
    assert!(waited < Duration::from_secs(30), "held {waited:?} for a {timeout_ms} ms timeout");
    let (swapped, _) = stream.step();
    assert!(!swapped);
    server.pause(false);
    stream.until_swapped(Duration::from_secs(60));

    // Killed: frames keep flowing unswapped; restarted on the same port: swapping resumes by itself.
    server.kill();
    for _ in 0..5 {
        let (swapped, waited) = stream.step();
        assert!(!swapped && waited < Duration::from_secs(30));
    }
    server.restart();
    let frames_until_back = stream.until_swapped(Duration::from_secs(90));
    for _ in 0..3 {
        assert!(stream.step().0, "swapped after the restart");
    }
    eprintln!("swapping resumed {frames_until_back} frames (100 ms apart) after the server was back");

    let (warnings, errors) = stream.bus_messages();
    assert!(errors.is_empty(), "{errors:?}");
    // One warning per outage (the hang and the crash), each naming the server and the model (the others
    // are start-up notes: CPU fallback, several faces on the source photo).
    let outages: Vec<&String> = warnings.iter().filter(|w| w.contains("inference server")).collect();
    assert_eq!(outages.len(), 2, "{warnings:?}");
    for w in outages {
        assert!(w.contains(&server.address) && w.contains("'srv_swapper_mix'") && w.contains("pass through"), "{w}");
    }
    // Every frame pushed came out.
    assert_eq!(stream.pulled, stream.pushed);
}

#[test]
fn the_realtime_generator_worker_uses_the_served_generator_and_rides_out_a_restart() {
    common::init();
    let dir = common::output_dir().join(format!("triton-repo-realtime-{}", std::process::id()));
    let files: Vec<PathBuf> = ["swapper_mix", "arcface_w600k_test", "converter_test"]
        .iter()
        .map(|m| models_dir().join("test").join(format!("{m}.onnx")))
        .collect();
    write_repo(&dir, &files, Default::default(), SERVED);
    let mut server = TritonServer::start(&dir, None, &common::output_dir().join("triton-realtime.log"));
    // The served names do not resolve to local files: a worker that reopened the generator in-process
    // could not start.
    let middle = format!(
        "ghostfacedetect ! ghostfacetrack ! ghostfaceswap mode=realtime max-age=3 source={} \
         model={SERVED}swapper_mix recognizer={SERVED}arcface_w600k_test converter={SERVED}converter_test \
         inference-server={} inference-timeout=2000",
        common::data("obama.jpg").display(),
        server.address
    );
    let mut stream = Stream::new(&middle, frame("biden.jpg"));
    stream.until_swapped(Duration::from_secs(60));

    // Killed: the streaming thread never waits for the generator; the worker's jobs fail and the cached
    // swaps age out after max-age frames, so faces pass unswapped.
    server.kill();
    let mut aged_out = false;
    for _ in 0..60 {
        let (swapped, waited) = stream.step();
        assert!(waited < Duration::from_secs(30), "a realtime frame was held {waited:?}");
        if !swapped {
            aged_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(aged_out, "the cached swaps did not age out while the server was down");
    server.restart();
    stream.until_swapped(Duration::from_secs(90));

    let (warnings, errors) = stream.bus_messages();
    assert!(errors.is_empty(), "{errors:?}");
    let outages: Vec<&String> = warnings.iter().filter(|w| w.contains("inference server")).collect();
    assert_eq!(outages.len(), 1, "one warning for the outage: {warnings:?}");
    assert!(outages[0].contains(&server.address) && outages[0].contains("'srv_swapper_mix'"), "{}", outages[0]);
    assert_eq!(stream.pulled, stream.pushed);
}

#[test]
fn a_request_the_server_answers_late_within_the_timeout_succeeds() {
    // A long request (a big batch on a busy server; here the server stopped for 5 s) must simply wait up to
    // the timeout. HTTP/2 keep-alive pings would end it early: unanswered pings close the connection, and a
    // gRPC server that answers them counts pings without data (Triton allows one per 5 minutes) and drops
    // the connection with "too many pings".
    common::init();
    let dir = common::output_dir().join(format!("triton-repo-late-{}", std::process::id()));
    write_repo(&dir, &[models_dir().join("test/swapper_mix.onnx")], Default::default(), SERVED);
    let server = TritonServer::start(&dir, None, &common::output_dir().join("triton-late.log"));
    let options = SessionOptions {
        server: Some(ServerOptions { address: server.address.clone(), timeout_ms: TIMEOUT_MS, shared_memory: false }),
        ..Default::default()
    };
    let generator = GhostGenerator::open(std::path::Path::new("srv_swapper_mix"), &options).unwrap();
    let crop = resize_rgb(&frame("obama.jpg"), 256, 256, Filter::Area);
    let identity = vec![0.05f32; 512];
    generator.swap(&[&crop], &identity).unwrap();
    server.pause(true);
    let t0 = Instant::now();
    let late = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_secs(5));
            server.pause(false);
        });
        generator.swap(&[&crop], &identity)
    });
    late.unwrap_or_else(|e| panic!("after {:?}: {e}", t0.elapsed()));
    assert!(t0.elapsed() >= Duration::from_secs(5), "answered while stopped? {:?}", t0.elapsed());
}
