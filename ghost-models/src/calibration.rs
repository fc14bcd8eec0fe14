// SPDX-License-Identifier: MIT OR Apache-2.0
//! Aligned 256x256 generator crops for int8 calibration, made exactly as `ghostfaceswap` makes them:
//! the built-in MTCNN (`ghostfacedetect`'s defaults) finds the faces and `generator_crop` with
//! `CropMode::Ghost` (the element's default) aligns them.
//!
//! ```text
//! cargo run -p ghost-models -- calibration-crops [--out DIR] [--augment N] [--no-flip] [--seed S] [PHOTO|DIR ...]
//! ```
//!
//! (`export --int8` calls it.) Without inputs it uses the photos in the checkout's tests/data. Each face gives `STEM_fFACE_v000.png` (the plain
//! crop). `--augment N` adds N variants per face and the same for the faces of the mirrored photo
//! (`STEM_m_fFACE_vNNN.png`; `--no-flip` leaves the mirror out). A variant changes the light
//! (brightness, contrast, a slight colour cast, applied to the photo before the crop) and moves the
//! five keypoints (rotation, scale, shift about their centre, plus per-point noise, all relative to
//! the eye distance), as a slightly different detection would; the crop itself always comes from
//! `generator_crop`. Everything is drawn from a generator seeded by (seed, file name, face, variant),
//! so the same inputs give byte-identical PNGs. `index.tsv` lists every crop with its parameters.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use gstghost::models::align::{generator_crop, CropMode};
use gstghost::models::identity::load_photo;
use gstghost::models::{resolve_model, Detection, Detector, DetectorParams, PhotoKind};
use gstghost::runtime::{ExecutionProvider, SessionOptions};
use gstghost::vision::{PackedFrame, RgbImage};

/// What `calibration-crops` (and `export --int8`) make the crops from.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Photos (PNG/JPEG) or folders of photos; default: the photos in tests/data
    pub inputs: Vec<PathBuf>,
    /// Output folder (created; existing crops of the same names are replaced)
    #[arg(long, default_value = "out/calibration")]
    pub out: PathBuf,
    /// Augmented variants per face, in addition to the plain crop
    #[arg(long, default_value_t = 0)]
    pub augment: usize,
    /// Do not add the mirrored photo when augmenting
    #[arg(long)]
    pub no_flip: bool,
    /// Seed of the augmentations
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Smallest face (pixels) the detector reports, as ghostfacedetect's min-face-size
    #[arg(long, default_value_t = DetectorParams::default().min_face_size)]
    pub min_face_size: u32,
    /// Detection score a face needs; higher than the element's 0.5 so that the odd false positive
    /// (a sleeve, a lamp) does not end up among the faces
    #[arg(long, default_value_t = 0.9)]
    pub score_threshold: f32,
}

/// The checkout's test photos (public-domain portraits), the default calibration input.
pub fn default_photos() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data")
}

/// The photos of the inputs (folders: their PNG/JPEG files, sorted by name).
fn photos(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let default = [default_photos()];
    let inputs = if inputs.is_empty() { &default[..] } else { inputs };
    let is_photo = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_lowercase().as_str()))
    };
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .with_context(|| format!("cannot read {}", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_photo(p))
                .collect();
            found.sort();
            out.extend(found);
        } else if input.is_file() {
            out.push(input.clone());
        } else {
            bail!("{} does not exist", input.display());
        }
    }
    if out.is_empty() {
        bail!(
            "no PNG or JPEG photos in {}",
            inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(out)
}

/// SplitMix64: a tiny generator whose sequence is fixed forever (crops made today and in a year are
/// identical, which a library RNG does not promise across versions).
pub struct Rng(pub u64);

impl Rng {
    pub fn new(parts: &[&[u8]]) -> Self {
        // FNV-1a over the parts: stable, unlike std's hasher.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for part in parts {
            for &b in part.iter().chain(&[0xff]) {
                h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
            }
        }
        Rng(h)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One variant's changes; the identity for the plain crop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    pub brightness: f64,
    pub contrast: f64,
    pub gain: [f64; 3],
    pub angle_deg: f64,
    pub scale: f64,
    /// Shift of the keypoints in eye distances.
    pub shift: [f64; 2],
    /// Per-point noise in eye distances.
    pub noise: [[f64; 2]; 5],
}

impl Jitter {
    pub const NONE: Jitter = Jitter {
        brightness: 0.0,
        contrast: 1.0,
        gain: [1.0; 3],
        angle_deg: 0.0,
        scale: 1.0,
        shift: [0.0; 2],
        noise: [[0.0; 2]; 5],
    };

    /// Ranges: light +-20 levels, contrast 0.8-1.2, colour cast +-4 % per channel; keypoints rotated
    /// +-8 degrees, scaled 0.94-1.06, shifted +-5 % and each moved +-3 % of the eye distance (the
    /// spread of MTCNN's points between neighbouring video frames and poses).
    fn draw(rng: &mut Rng) -> Jitter {
        let mut u = |lo, hi| rng.uniform(lo, hi);
        Jitter {
            brightness: u(-20.0, 20.0),
            contrast: u(0.8, 1.2),
            gain: [u(0.96, 1.04), u(0.96, 1.04), u(0.96, 1.04)],
            angle_deg: u(-8.0, 8.0),
            scale: u(0.94, 1.06),
            shift: [u(-0.05, 0.05), u(-0.05, 0.05)],
            noise: std::array::from_fn(|_| [u(-0.03, 0.03), u(-0.03, 0.03)]),
        }
    }

    /// The photo with this variant's light: (v - 128)·contrast·gain + 128 + brightness, rounded.
    fn relight(&self, photo: &RgbImage) -> RgbImage {
        if self.brightness == 0.0 && self.contrast == 1.0 && self.gain == [1.0; 3] {
            return photo.clone();
        }
        let lut: [[u8; 256]; 3] = std::array::from_fn(|c| {
            std::array::from_fn(|v| {
                ((v as f64 - 128.0) * self.contrast * self.gain[c] + 128.0 + self.brightness).round().clamp(0.0, 255.0)
                    as u8
            })
        });
        let mut out = photo.clone();
        for px in out.data.chunks_exact_mut(3) {
            for c in 0..3 {
                px[c] = lut[c][px[c] as usize];
            }
        }
        out
    }

    /// The keypoints moved by this variant about their centre.
    pub fn move_keypoints(&self, kps: &[[f32; 2]; 5]) -> [[f32; 2]; 5] {
        let eye = ((kps[1][0] - kps[0][0]) as f64).hypot((kps[1][1] - kps[0][1]) as f64).max(1.0);
        let cx = kps.iter().map(|p| p[0] as f64).sum::<f64>() / 5.0;
        let cy = kps.iter().map(|p| p[1] as f64).sum::<f64>() / 5.0;
        let (s, c) = self.angle_deg.to_radians().sin_cos();
        std::array::from_fn(|i| {
            let (x, y) = (kps[i][0] as f64 - cx, kps[i][1] as f64 - cy);
            let nx = self.scale * (c * x - s * y) + cx + (self.shift[0] + self.noise[i][0]) * eye;
            let ny = self.scale * (s * x + c * y) + cy + (self.shift[1] + self.noise[i][1]) * eye;
            [nx as f32, ny as f32]
        })
    }
}

fn mirror(photo: &RgbImage) -> RgbImage {
    let mut out = photo.clone();
    let w = photo.width;
    for y in 0..photo.height {
        let (src, dst) = (photo.row(y), &mut out.data[y * w * 3..(y + 1) * w * 3]);
        for x in 0..w {
            dst[x * 3..x * 3 + 3].copy_from_slice(&src[(w - 1 - x) * 3..(w - x) * 3]);
        }
    }
    out
}

fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    image::RgbImage::from_raw(img.width as u32, img.height as u32, img.data.clone())
        .context("crop buffer")?
        .save(path)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The faces at least half as tall as the tallest: the people of the photo, without the odd false
/// positive (a sleeve scored 0.99 in obama.jpg) or a tiny face in the background.
fn main_faces(faces: Vec<Detection>) -> Vec<Detection> {
    let height = |d: &Detection| d.bbox[3] - d.bbox[1];
    let tallest = faces.iter().map(height).fold(0.0, f32::max);
    faces.into_iter().filter(|d| height(d) >= 0.5 * tallest).collect()
}

/// Makes the crops; returns the files written, in order.
pub fn run(args: &Args) -> Result<Vec<PathBuf>> {
    let photos = photos(&args.inputs)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let location = resolve_model("mtcnn")?;
    let options = SessionOptions { provider: ExecutionProvider::Cpu, ..Default::default() };
    let mut detector = Detector::open(&location, &options).context("cannot open the MTCNN detector")?;
    let params = DetectorParams {
        min_face_size: args.min_face_size,
        score_threshold: args.score_threshold,
        ..Default::default()
    };
    let mut index = String::from(
        "file\tphoto\tmirrored\tface\tvariant\tbrightness\tcontrast\tgain_r\tgain_g\tgain_b\tangle_deg\tscale\tshift_x\tshift_y\n",
    );
    let mut written = Vec::new();
    for path in &photos {
        let photo = load_photo(path, PhotoKind::Source)?.image;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("photo").to_string();
        let stem = path.file_stem().and_then(|n| n.to_str()).unwrap_or("photo").to_string();
        let mut views = vec![(false, photo)];
        if args.augment > 0 && !args.no_flip {
            let mirrored = mirror(&views[0].1);
            views.push((true, mirrored));
        }
        for (mirrored, view) in &views {
            let faces = main_faces(detector.detect(&PackedFrame::from_rgb(view), &params).context("detection failed")?);
            if faces.is_empty() {
                eprintln!("{name}{}: no face", if *mirrored { " (mirrored)" } else { "" });
            }
            for (f, face) in faces.iter().enumerate() {
                for v in 0..=args.augment {
                    let jitter = if v == 0 {
                        Jitter::NONE
                    } else {
                        let tag = [*mirrored as u8];
                        let ids = [f as u64, v as u64].map(u64::to_le_bytes);
                        Jitter::draw(&mut Rng::new(&[
                            &args.seed.to_le_bytes(),
                            name.as_bytes(),
                            &tag,
                            &ids[0],
                            &ids[1],
                        ]))
                    };
                    let lit = jitter.relight(view);
                    let kps = jitter.move_keypoints(&face.keypoints);
                    let (crop, _) = generator_crop(&PackedFrame::from_rgb(&lit), &kps, CropMode::Ghost);
                    let file = format!("{stem}{}_f{f}_v{v:03}.png", if *mirrored { "_m" } else { "" });
                    let out = args.out.join(&file);
                    save_png(&crop, &out)?;
                    let j = jitter;
                    writeln!(
                        index,
                        "{file}\t{name}\t{}\t{f}\t{v}\t{:.2}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{:.2}\t{:.3}\t{:.3}\t{:.3}",
                        *mirrored as u8,
                        j.brightness,
                        j.contrast,
                        j.gain[0],
                        j.gain[1],
                        j.gain[2],
                        j.angle_deg,
                        j.scale,
                        j.shift[0],
                        j.shift[1]
                    )?;
                    written.push(out);
                }
            }
        }
    }
    std::fs::write(args.out.join("index.tsv"), index).context("cannot write index.tsv")?;
    Ok(written)
}
