//! `kiln augment --preview`: a grid of training images, each beside augmented copies of
//! itself drawn as training draws them, so a person can see what the model sees.

use crate::config::Config;
use crate::error::KilnError;
use crate::images::read_images;
use crate::picture::Grid;
use kiln_model::ImageShape;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::path::Path;

/// What a preview shows.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// The class of each row's image.
    pub classes: Vec<String>,
    /// Augmented copies beside each original.
    pub variants: usize,
    /// The transforms in words.
    pub transforms: String,
    /// The images' size: channels, height, width.
    pub shape: [usize; 3],
}

/// Draws `rows` training images (classes in turn) of the image data at `data`, each followed
/// by `variants` augmented copies made with the config's `[train.augment]` and seed; returns
/// the grid as PNG and what it shows.
pub fn augment_preview(
    data: &Path,
    config: &Config,
    rows: usize,
    variants: usize,
) -> Result<(Vec<u8>, Preview), KilnError> {
    config.validate().map_err(KilnError::Config)?;
    let input = read_images(data, config)?.ok_or_else(|| {
        KilnError::Config(format!(
            "'{}' is not image data: give a folder of class folders of image files, a folder of IDX files, or a table of pixel columns with --target",
            data.display()
        ))
    })?;
    let set = &input.images.train;
    let shape = ImageShape {
        channels: set.channels,
        height: set.height,
        width: set.width,
    };
    let chosen = spread_over_classes(&set.labels, input.images.classes.len(), rows);
    let augment = &config.train.augment;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut grid = Grid::new(&shape, chosen.len(), variants + 1);
    for &i in &chosen {
        let original: Vec<f32> = set.image(i).iter().map(|&p| f32::from(p)).collect();
        grid.push_image(&original, &shape);
        for _ in 0..variants {
            let mut copy = original.clone();
            augment.apply_one(&mut copy, &shape, &mut rng);
            grid.push_image(&copy, &shape);
        }
    }
    let preview = Preview {
        classes: chosen
            .iter()
            .map(|&i| input.images.classes[set.labels[i]].clone())
            .collect(),
        variants,
        transforms: augment.describe(&shape),
        shape: [shape.channels, shape.height, shape.width],
    };
    Ok((grid.to_png(), preview))
}

/// Up to `n` image indices taking the classes in turn (the first image of each class, then
/// the second, ...), so a preview shows every class.
fn spread_over_classes(labels: &[usize], classes: usize, n: usize) -> Vec<usize> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        if let Some(list) = by_class.get_mut(l) {
            list.push(i);
        }
    }
    let mut out = Vec::with_capacity(n);
    let longest = by_class.iter().map(Vec::len).max().unwrap_or(0);
    for k in 0..longest {
        for list in &by_class {
            if out.len() == n {
                return out;
            }
            if let Some(&i) = list.get(k) {
                out.push(i);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_takes_the_classes_in_turn() {
        let labels = [0, 0, 1, 0, 2, 1];
        assert_eq!(spread_over_classes(&labels, 3, 5), vec![0, 2, 4, 1, 5]);
        assert_eq!(spread_over_classes(&labels, 3, 2), vec![0, 2]);
        assert_eq!(spread_over_classes(&labels, 3, 10).len(), 6);
    }
}
