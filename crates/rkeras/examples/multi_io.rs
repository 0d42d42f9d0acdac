//! Several inputs and outputs, a shared layer and one loss per output (the README's
//! example): `cargo run -p rkeras --example multi_io`.

use rkeras::prelude::*;

fn main() -> rkeras::Result<()> {
    let img = Input::named((28, 28, 1), "img");
    let meta = Input::named(4, "meta");
    let x = Conv2D::new(8, 3).activation("relu").call(&img)?;
    let x = Flatten::new().call(&x)?;
    let encoder = Shared::new(Dense::new(8).activation("tanh")); // one set of weights...
    let a = encoder.call(&meta)?; // ...called twice
    let b = encoder.call(&Dense::new(4).call(&meta)?)?;
    let h = Concatenate::new().call_on(&[&x, &a, &b])?;
    let cls = Dense::new(10).activation("softmax").name("cls").call(&h)?;
    let reg = Dense::new(1).name("reg").call(&h)?;
    let mut model = Model::functional([&img, &meta], [&cls, &reg])?;
    model.compile_outputs(
        "adam",
        [
            OutputLoss::new("cls", "sparse_categorical_crossentropy").metrics(&["accuracy"]),
            OutputLoss::new("reg", "mse")
                .loss_weight(0.5)
                .metrics(&["mae"]),
        ],
    )?;
    let (x1, x2) = (
        Tensor::zeros(vec![64, 28, 28, 1]),
        Tensor::zeros(vec![64, 4]),
    );
    let (y1, y2) = (Tensor::zeros(vec![64]), Tensor::zeros(vec![64, 1]));
    let history = model
        .fit([&x1, &x2], [&y1, &y2])
        .epochs(1)
        .verbose(0)
        .run()?;
    assert!(history.get("cls_accuracy").is_some()); // loss, cls_loss, reg_mae, val_... as Keras
    let outputs = model.predict_outputs([&x1, &x2])?; // one tensor per output
    assert_eq!(outputs[1].shape(), &[64, 1]);
    println!("{}", model.summary_string(None));
    println!("{:?}", history.history.keys().collect::<Vec<_>>());
    Ok(())
}
