//! Bad input to `image_dataset_from_directory`: every case gets a clear error naming the
//! file or folder at fault (or, with `skip_bad_files`, a listed and counted skip), never a
//! panic and never a silent loss.

use rkeras::data::image_dataset_from_directory;
use std::path::Path;

mod common;
use common::TempDir;

fn png_bytes(v: u8) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(6, 5, image::Rgb([v, 255 - v, v / 2]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

/// Two classes of good images.
fn good_tree(root: &Path) {
    for (class, v) in [("a", 10u8), ("b", 200)] {
        for i in 0..3 {
            write(
                &root.join(class).join(format!("{i}.png")),
                &png_bytes(v + i),
            );
        }
    }
}

fn load_err(root: &Path) -> String {
    image_dataset_from_directory(root)
        .image_size((4, 4))
        .verbose(false)
        .load()
        .expect_err("should fail")
        .to_string()
}

#[test]
fn corrupt_truncated_and_empty_files_are_all_listed_before_training() {
    let dir = TempDir::new("corrupt");
    let root = &dir.0;
    good_tree(root);
    write(
        &root.join("a/random.png"),
        b"\x13\x37 definitely not an image at all",
    );
    let full = png_bytes(7);
    write(&root.join("a/truncated.png"), &full[..full.len() / 2]);
    write(&root.join("b/empty.jpg"), b"");
    let e = load_err(root);
    assert!(e.contains("3 of 9 image files cannot be read"), "{e}");
    for name in ["random.png", "truncated.png", "empty.jpg"] {
        assert!(e.contains(name), "{name} missing from: {e}");
    }
    assert!(e.contains("skip_bad_files"), "{e}");
    assert!(e.contains("truncated"), "{e}");
    assert!(e.contains("empty"), "{e}");

    let ds = image_dataset_from_directory(root)
        .image_size((4, 4))
        .skip_bad_files(true)
        .shuffle(false)
        .verbose(false)
        .load()
        .expect("skipping bad files");
    assert_eq!(ds.len(), 6);
    assert!(ds
        .file_paths()
        .iter()
        .all(|p| !p.to_string_lossy().contains("random")));
    // The six good ones decode.
    assert_eq!(ds.in_order().map(|b| b.expect("batch").n).sum::<usize>(), 6);
}

#[test]
fn a_bmp_named_jpg_is_fine_when_it_decodes() {
    let dir = TempDir::new("bmp-as-jpg");
    let root = &dir.0;
    good_tree(root);
    let img = image::RgbImage::from_pixel(3, 3, image::Rgb([1, 2, 3]));
    let mut bmp = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bmp, image::ImageFormat::Bmp)
        .expect("bmp");
    write(&root.join("a/photo.jpg"), &bmp.into_inner());
    let ds = image_dataset_from_directory(root)
        .image_size((3, 3))
        .shuffle(false)
        .verbose(false)
        .load()
        .expect("bmp named jpg");
    assert_eq!(ds.len(), 7);
    let first = ds.in_order().next().expect("a batch").expect("decodes");
    assert_eq!(first.n, 7);
}

#[test]
fn a_file_that_fails_while_training_names_itself() {
    let dir = TempDir::new("late");
    let root = &dir.0;
    good_tree(root);
    // Header and end marker intact, pixel data scrambled: passes the quick check.
    let mut bytes = png_bytes(99);
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid - 4..mid + 4] {
        *b ^= 0xA5;
    }
    write(&root.join("b/scrambled.png"), &bytes);
    let ds = image_dataset_from_directory(root)
        .image_size((4, 4))
        .batch_size(2)
        .shuffle(false)
        .verbose(false)
        .load()
        .expect("passes the quick check");
    let err = ds
        .in_order()
        .find_map(|b| b.err())
        .expect("decoding fails")
        .to_string();
    assert!(err.contains("scrambled.png"), "{err}");
}

#[test]
fn empty_and_misshapen_folders_explain_the_layout() {
    let dir = TempDir::new("empty");
    let e = load_err(&dir.0);
    assert!(e.contains("No images found in directory"), "{e}");
    assert!(e.contains("one sub-folder per class"), "{e}");
    assert!(e.contains("No class sub-folders"), "{e}");

    let top = TempDir::new("top-level");
    write(&top.0.join("x.png"), &png_bytes(1));
    write(&top.0.join("y.png"), &png_bytes(2));
    let e = load_err(&top.0);
    assert!(e.contains("2 file(s) directly in the top folder"), "{e}");

    let ext = TempDir::new("extensions");
    write(&ext.0.join("a/x.webp"), b"webp");
    write(&ext.0.join("a/y.tiff"), b"tiff");
    write(&ext.0.join("a/z.TIFF"), b"tiff");
    let e = load_err(&ext.0);
    assert!(e.contains("3 file(s) with an unsupported extension"), "{e}");
    assert!(e.contains(".tiff: 2") && e.contains(".webp: 1"), "{e}");

    let missing = dir.0.join("does-not-exist");
    let e = load_err(&missing);
    assert!(e.contains("does-not-exist"), "{e}");
}

#[cfg(unix)]
#[test]
fn links_and_odd_names_give_clear_answers() {
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new("links");
    let root = &dir.0;
    good_tree(root);
    // A dangling link with an image name: reported with its path, not a panic.
    std::os::unix::fs::symlink(root.join("nowhere.png"), root.join("a/dangling.png"))
        .expect("symlink");
    let e = load_err(root);
    assert!(e.contains("dangling.png"), "{e}");
    std::fs::remove_file(root.join("a/dangling.png")).expect("rm");

    // A loop: a/loop -> a. Not followed by default; an error when following links.
    std::os::unix::fs::symlink(root.join("a"), root.join("a/loop")).expect("symlink");
    let ds = image_dataset_from_directory(root)
        .image_size((4, 4))
        .verbose(false)
        .load()
        .expect("links not followed");
    assert_eq!(ds.len(), 6);
    let e = image_dataset_from_directory(root)
        .image_size((4, 4))
        .follow_links(true)
        .verbose(false)
        .load()
        .expect_err("loop")
        .to_string();
    assert!(e.contains("symbolic link loop"), "{e}");
    std::fs::remove_file(root.join("a/loop")).expect("rm");

    // A file name that is not UTF-8 is read like any other.
    let odd = root
        .join("b")
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9.png"));
    write(&odd, &png_bytes(5));
    let ds = image_dataset_from_directory(root)
        .image_size((4, 4))
        .shuffle(false)
        .verbose(false)
        .load()
        .expect("non-UTF-8 name");
    assert_eq!(ds.len(), 7);
    assert_eq!(ds.in_order().map(|b| b.expect("batch").n).sum::<usize>(), 7);
}

#[test]
fn a_jpeg_with_data_after_its_end_is_fine() {
    let dir = TempDir::new("trailer");
    let root = &dir.0;
    good_tree(root);
    let img = image::RgbImage::from_pixel(8, 8, image::Rgb([9, 99, 199]));
    let mut jpg = std::io::Cursor::new(Vec::new());
    img.write_to(&mut jpg, image::ImageFormat::Jpeg)
        .expect("jpeg");
    let mut bytes = jpg.into_inner();
    // A motion photo: a video appended after the end of image.
    bytes.extend(std::iter::repeat_n(0x42u8, 4000));
    write(&root.join("b/motion.jpg"), &bytes);
    let ds = image_dataset_from_directory(root)
        .image_size((4, 4))
        .verbose(false)
        .load()
        .expect("trailing data is accepted");
    assert_eq!(ds.len(), 7);
}

/// A PNG whose compressed data is damaged but whose header and end marker are intact: it
/// passes the up-front check and fails only when decoded.
fn late_failing_png() -> Vec<u8> {
    let bytes = png_bytes(90);
    let idat = bytes
        .windows(4)
        .position(|w| w == b"IDAT")
        .expect("an IDAT chunk");
    let mut bad = bytes[..idat + 4].to_vec();
    bad.extend(std::iter::repeat_n(0xFFu8, 12));
    bad.extend(&bytes[idat + 16..]);
    bad
}

#[test]
fn files_failing_only_when_decoded_are_skipped_counted_and_never_misaligned() {
    use rkeras::prelude::*;
    let dir = TempDir::new("late-decode");
    let root = &dir.0;
    good_tree(root);
    write(&root.join("a/1b-late.png"), &late_failing_png());
    let load = |skip: bool| {
        image_dataset_from_directory(root)
            .image_size((4, 4))
            .batch_size(2)
            .shuffle(false)
            .skip_bad_files(skip)
            .verbose(false)
            .load()
            .expect("passes the up-front check")
    };
    let mut model = Sequential::new([
        Flatten::new().input_shape((4, 4, 3)).into(),
        Dense::new(2).activation("softmax").into(),
    ])
    .expect("model");
    model
        .compile("adam", "sparse_categorical_crossentropy", &["accuracy"])
        .expect("compile");

    // Without skip_bad_files: an error naming the file and the way out.
    let strict = load(false);
    let e = model
        .fit_dataset(&strict)
        .epochs(1)
        .verbose(0)
        .run()
        .expect_err("the file cannot be decoded")
        .to_string();
    assert!(
        e.contains("1b-late.png") && e.contains("skip_bad_files"),
        "{e}"
    );

    // With it: training and evaluation leave the file out, and say so once.
    let ds = load(true);
    model
        .fit_dataset(&ds)
        .epochs(2)
        .verbose(0)
        .run()
        .expect("skips the file");
    let skipped = ds.skipped_files();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].0.ends_with("a/1b-late.png"));
    model.evaluate_dataset(&ds).expect("evaluates the others");
    // Predictions keep one row per file, in file order: the bad file's row is NaN.
    let p = model.predict_dataset(&ds).expect("predicts");
    assert_eq!(p.shape(), &[7, 2]);
    let row = ds
        .file_paths()
        .iter()
        .position(|f| f.ends_with("a/1b-late.png"))
        .expect("listed");
    for (i, r) in p.data().chunks(2).enumerate() {
        assert_eq!(r.iter().all(|v| v.is_nan()), i == row, "row {i}: {r:?}");
    }
    // take_files keeps the first files of the dataset's order.
    let few = load(true).take_files(3);
    assert_eq!(few.len(), 3);
    assert_eq!(few.file_paths(), &ds.file_paths()[..3]);
}
