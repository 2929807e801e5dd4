//! Networks that read free text as token numbers (kiln-data's token inputs: token `i` written
//! as `i + 1`, 0 for padding): a recurrent network (GRU or LSTM) trained from scratch, or a
//! pretrained BERT-family encoder whose top layers are fine-tuned. Each text becomes a
//! vector; the vectors and the row's other inputs feed a tabular head.

use crate::tabular::{NetworkShape, TabularNet, uniform};
use burn::module::Param;
use burn::nn::Embedding;
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, tanh};
use kiln_text::{Bert, BertConfig};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The text network's shape: the `[text]` section of a Kiln config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextShape {
    /// Values per word embedding (gru, lstm).
    pub embedding: usize,
    /// Units of the recurrent state (gru, lstm).
    pub hidden: usize,
    /// Top layers of a pretrained encoder trained when fine-tuning; the embeddings and the
    /// layers below stay frozen.
    pub finetune_layers: usize,
}

impl Default for TextShape {
    fn default() -> Self {
        Self {
            embedding: 64,
            hidden: 128,
            finetune_layers: 2,
        }
    }
}

impl TextShape {
    /// Checks the shape is buildable, naming the offending config key.
    pub fn validate(&self) -> Result<(), String> {
        if self.embedding == 0 || self.hidden == 0 {
            return Err("text.embedding and text.hidden must be at least 1".into());
        }
        Ok(())
    }
}

/// The recurrent cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// Gated recurrent unit (reset gate applied after the hidden product, as cuDNN does).
    Gru,
    /// Long short-term memory.
    Lstm,
}

/// One text column's token inputs and what reads them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenSpan {
    /// The first input.
    pub offset: usize,
    /// Inputs (the most tokens per text).
    pub length: usize,
    /// What reads the tokens into a vector.
    pub reader: TextReader,
}

/// What reads the token spans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TextReader {
    /// Word embeddings and a recurrent network trained from scratch.
    Recurrent {
        /// The cell.
        cell: CellKind,
        /// Distinct token numbers.
        vocabulary: usize,
        /// Values per embedding.
        embedding: usize,
        /// Units of the state.
        hidden: usize,
    },
    /// A pretrained encoder (its weights come from the checkpoint before training and from
    /// the bundle after), mean-pooled.
    Encoder {
        /// Its architecture.
        bert: BertConfig,
        /// Layers trained (the top ones); the rest are frozen.
        trained_layers: usize,
    },
}

impl TextReader {
    /// Values per text vector.
    pub fn width(&self) -> usize {
        match self {
            // The final state and the mean state.
            TextReader::Recurrent { hidden, .. } => 2 * hidden,
            TextReader::Encoder { bert, .. } => bert.hidden_size,
        }
    }

    /// Checks the reader is buildable.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            TextReader::Recurrent {
                vocabulary,
                embedding,
                hidden,
                ..
            } if *vocabulary == 0 || *embedding == 0 || *hidden == 0 => Err(
                "the recurrent text network needs a vocabulary, an embedding and a state".into(),
            ),
            _ => Ok(()),
        }
    }

    /// The layers in a few words.
    pub fn describe(&self) -> String {
        match self {
            TextReader::Recurrent {
                cell,
                vocabulary,
                embedding,
                hidden,
            } => format!(
                "{} over words ({vocabulary} tokens embedded in {embedding} values, state of {hidden}; final and mean state)",
                match cell {
                    CellKind::Gru => "GRU",
                    CellKind::Lstm => "LSTM",
                }
            ),
            TextReader::Encoder {
                bert,
                trained_layers,
            } => format!(
                "pretrained encoder ({} layers of {}, top {} fine-tuned, mean-pooled)",
                bert.num_hidden_layers,
                bert.hidden_size,
                trained_layers.min(&bert.num_hidden_layers)
            ),
        }
    }
}

/// A network over rows holding token spans: each span read into a vector by its own reader,
/// the vectors and the other inputs into a tabular head.
#[derive(Module, Debug)]
pub struct TextNet {
    readers: Vec<Reader>,
    head: TabularNet,
    /// Token spans, flattened: offset, length, offset, length, ...
    spans: Vec<usize>,
    /// The inputs outside every span, which go to the head as they are.
    rest: Vec<usize>,
}

/// The trained part that turns a span into a vector.
#[derive(Module, Debug)]
enum Reader {
    /// Embeddings and a recurrent cell.
    Recurrent(Words),
    /// A pretrained encoder.
    Encoder(Pretrained),
}

/// Word embeddings read by a recurrent cell.
#[derive(Module, Debug)]
struct Words {
    embed: Embedding,
    cell: Recurrent,
}

/// A pretrained encoder and how many of its layers are frozen.
#[derive(Module, Debug)]
struct Pretrained {
    bert: Bert,
    frozen: usize,
}

/// A recurrent cell whose input products for a whole sequence are one matrix product.
#[derive(Module, Debug)]
struct Recurrent {
    /// `[embedding, gates × hidden]`.
    input: Param<Tensor<2>>,
    /// `[hidden, gates × hidden]`.
    state: Param<Tensor<2>>,
    /// `[gates × hidden]`.
    bias: Param<Tensor<1>>,
    lstm: bool,
    hidden: usize,
}

/// Builds a text network: `inputs` values per row, of which `spans` are tokens.
pub(crate) fn init(
    spans: &[TokenSpan],
    head: &NetworkShape,
    inputs: usize,
    outputs: usize,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> TextNet {
    let in_span = |i: usize| {
        spans
            .iter()
            .any(|s| (s.offset..s.offset + s.length).contains(&i))
    };
    let rest: Vec<usize> = (0..inputs).filter(|&i| !in_span(i)).collect();
    let head_inputs = rest.len() + spans.iter().map(|s| s.reader.width()).sum::<usize>();
    let readers = spans
        .iter()
        .map(|span| init_reader(&span.reader, rng, device))
        .collect();
    TextNet {
        readers,
        head: head.init(head_inputs, outputs, rng, device),
        spans: spans.iter().flat_map(|s| [s.offset, s.length]).collect(),
        rest,
    }
}

/// A freshly initialised reader (a pretrained encoder's weights are blank until loaded).
fn init_reader(reader: &TextReader, rng: &mut ChaCha8Rng, device: &Device) -> Reader {
    match reader {
        TextReader::Recurrent {
            cell,
            vocabulary,
            embedding,
            hidden,
        } => {
            // Unit-variance embeddings, as PyTorch's default N(0, 1) gives.
            let bound = 3f32.sqrt();
            let values: Vec<f32> = (0..vocabulary * embedding)
                .map(|_| rng.random_range(-bound..bound))
                .collect();
            let embed = Embedding {
                weight: Param::from_tensor(Tensor::from_data(
                    TensorData::new(values, [*vocabulary, *embedding]),
                    device,
                )),
            };
            let gates = match cell {
                CellKind::Gru => 3,
                CellKind::Lstm => 4,
            };
            let width = gates * hidden;
            let mut bias = vec![0f32; width];
            if *cell == CellKind::Lstm {
                // Forget gate open at the start, so early words are remembered.
                bias[*hidden..2 * hidden].fill(1.0);
            }
            Reader::Recurrent(Words {
                embed,
                cell: Recurrent {
                    input: uniform(rng, [*embedding, width], *hidden, device),
                    state: uniform(rng, [*hidden, width], *hidden, device),
                    bias: Param::from_tensor(Tensor::from_data(
                        TensorData::new(bias, [width]),
                        device,
                    )),
                    lstm: *cell == CellKind::Lstm,
                    hidden: *hidden,
                },
            })
        }
        TextReader::Encoder {
            bert,
            trained_layers,
        } => Reader::Encoder(Pretrained {
            bert: Bert::blank(bert, device),
            frozen: bert.num_hidden_layers.saturating_sub(*trained_layers),
        }),
    }
}

impl TextNet {
    /// Per-member outputs `[batch, members, outputs]`, without dropout.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<3> {
        self.head.forward(self.features(x))
    }

    /// Per-member outputs with dropout, its masks drawn from `noise`.
    pub fn forward_train(&self, x: Tensor<2>, noise: &mut ChaCha8Rng) -> Tensor<3> {
        self.head.forward_train(self.features(x), noise)
    }

    /// The pretrained encoders, one per text read by one.
    pub fn pretrained(&self) -> Vec<&Bert> {
        self.readers
            .iter()
            .filter_map(|r| match r {
                Reader::Encoder(p) => Some(&p.bert),
                Reader::Recurrent(_) => None,
            })
            .collect()
    }

    /// Replaces every pretrained encoder's weights with `weights`.
    pub fn with_pretrained(mut self, weights: &Bert) -> Self {
        for r in &mut self.readers {
            if let Reader::Encoder(p) = r {
                p.bert = weights.clone();
            }
        }
        self
    }

    /// The head's inputs: each span's text vector, then the other inputs.
    fn features(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, _] = x.dims();
        let device = x.device();
        let mut parts: Vec<Tensor<2>> = self
            .spans
            .chunks_exact(2)
            .zip(&self.readers)
            .map(|(s, reader)| read(reader, x.clone().slice([0..batch, s[0]..s[0] + s[1]])))
            .collect();
        if !self.rest.is_empty() {
            let index: Vec<i64> = self.rest.iter().map(|&i| i as i64).collect();
            let index =
                Tensor::<1, Int>::from_data(TensorData::new(index, [self.rest.len()]), &device);
            parts.push(x.select(1, index));
        }
        Tensor::cat(parts, 1)
    }
}

/// The vector of each row's text from its token inputs `[batch, length]`.
fn read(reader: &Reader, slots: Tensor<2>) -> Tensor<2> {
    let [batch, _] = slots.dims();
    // Only as many steps as the batch's longest text.
    let mask = slots.clone().greater_elem(0.5).float();
    let longest = mask.clone().sum_dim(1).max().into_scalar::<f32>() as usize;
    let steps = longest.max(1);
    let mask = mask.slice([0..batch, 0..steps]);
    let ids = slots
        .slice([0..batch, 0..steps])
        .sub_scalar(1.0)
        .clamp_min(0.0)
        .int();
    match reader {
        Reader::Recurrent(w) => w.cell.forward(&w.embed, ids, mask),
        Reader::Encoder(p) => {
            let states = p.bert.forward_frozen(ids, mask.clone(), p.frozen);
            let [b, t, width] = states.dims();
            let weights = mask.clone().reshape([b, t, 1]);
            let count = mask.sum_dim(1).clamp_min(1.0);
            (states * weights).sum_dim(1).reshape([b, width]) / count
        }
    }
}

impl Recurrent {
    /// The final state (at each row's last real token) and the mean state over real
    /// tokens, side by side `[batch, 2 × hidden]`, of tokens `ids` `[batch, steps]` embedded
    /// by `embed`.
    ///
    /// The steps run in blocks of about √steps: each block's tokens are embedded and
    /// multiplied by the input weights in one product, then each step takes its slice. The
    /// gradient of a slice is as large as what it was cut from, so cutting every step from
    /// the whole sequence would cost steps² memory traffic; blocks make it steps^1.5.
    fn forward(&self, embed: &Embedding, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<2> {
        let [batch, steps] = ids.dims();
        let h = self.hidden;
        let width = self.bias.dims()[0];
        let device = ids.device();
        let mut state = Tensor::<2>::zeros([batch, h], &device);
        let mut cell = Tensor::<2>::zeros([batch, h], &device);
        let mut sum = Tensor::<2>::zeros([batch, h], &device);
        let weights = self.state.val();
        let block = (steps as f64).sqrt().ceil() as usize;
        for start in (0..steps).step_by(block) {
            let end = (start + block).min(steps);
            let x = embed.forward(ids.clone().slice([0..batch, start..end]));
            let [_, len, embedding] = x.dims();
            let pre = (x.reshape([batch * len, embedding]).matmul(self.input.val())
                + self.bias.val().unsqueeze::<2>())
            .reshape([batch, len, width]);
            for t in start..end {
                let p = pre
                    .clone()
                    .slice([0..batch, t - start..t - start + 1, 0..width])
                    .reshape([batch, width]);
                let m = mask.clone().slice([0..batch, t..t + 1]);
                let q = state.clone().matmul(weights.clone());
                let next = if self.lstm {
                    let z = p + q;
                    let gates = sigmoid(z.clone().slice([0..batch, 0..2 * h]));
                    let input = gates.clone().slice([0..batch, 0..h]);
                    let forget = gates.slice([0..batch, h..2 * h]);
                    let candidate = tanh(z.clone().slice([0..batch, 2 * h..3 * h]));
                    let output = sigmoid(z.slice([0..batch, 3 * h..4 * h]));
                    let c = forget * cell.clone() + input * candidate;
                    let next = output * tanh(c.clone());
                    // Padding leaves the cell as it was.
                    cell = cell.clone() + m.clone() * (c - cell);
                    next
                } else {
                    let gates = sigmoid(
                        p.clone().slice([0..batch, 0..2 * h])
                            + q.clone().slice([0..batch, 0..2 * h]),
                    );
                    let reset = gates.clone().slice([0..batch, 0..h]);
                    let update = gates.slice([0..batch, h..2 * h]);
                    let candidate = tanh(
                        p.slice([0..batch, 2 * h..3 * h])
                            + reset * q.slice([0..batch, 2 * h..3 * h]),
                    );
                    candidate.clone() + update * (state.clone() - candidate)
                };
                state = state.clone() + m.clone() * (next - state);
                sum = sum + state.clone() * m;
            }
        }
        let count = mask.sum_dim(1).clamp_min(1.0);
        Tensor::cat(vec![state, sum / count], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn recurrent(cell: CellKind) -> TextReader {
        TextReader::Recurrent {
            cell,
            vocabulary: 10,
            embedding: 4,
            hidden: 3,
        }
    }

    fn net(cell: CellKind) -> TextNet {
        let rng = &mut ChaCha8Rng::seed_from_u64(1);
        let head = NetworkShape {
            depth: 1,
            width: 8,
            ensemble: 2,
            ..NetworkShape::default()
        };
        let spans = [TokenSpan {
            offset: 1,
            length: 5,
            reader: recurrent(cell),
        }];
        init(&spans, &head, 7, 2, rng, &Device::flex())
    }

    fn rows(values: &[[f32; 7]]) -> Tensor<2> {
        let flat: Vec<f32> = values.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [values.len(), 7]), &Device::flex())
    }

    fn outputs(net: &TextNet, values: &[[f32; 7]]) -> Vec<f32> {
        net.forward(rows(values))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn padding_changes_nothing_and_words_do() {
        for cell in [CellKind::Gru, CellKind::Lstm] {
            let net = net(cell);
            // Inputs 1..6 are tokens; 0 and 6 go to the head directly.
            let short = [0.5, 3.0, 4.0, 0.0, 0.0, 0.0, -1.0];
            let batch = outputs(&net, &[short, [0.5, 3.0, 4.0, 2.0, 5.0, 9.0, -1.0]]);
            let alone = outputs(&net, &[short]);
            // The short text alone runs 2 steps, beside the long one 5; padding after its
            // last token must leave its vector (and so the outputs) unchanged.
            for (a, b) in alone.iter().zip(&batch[..alone.len()]) {
                assert!((a - b).abs() < 1e-5, "{cell:?}: {a} vs {b}");
            }
            let other = outputs(&net, &[[0.5, 3.0, 5.0, 0.0, 0.0, 0.0, -1.0]]);
            assert!(
                alone.iter().zip(&other).any(|(a, b)| (a - b).abs() > 1e-4),
                "{cell:?}: a different word must change the output"
            );
            let order = outputs(&net, &[[0.5, 4.0, 3.0, 0.0, 0.0, 0.0, -1.0]]);
            assert!(
                alone.iter().zip(&order).any(|(a, b)| (a - b).abs() > 1e-4),
                "{cell:?}: the network must see word order"
            );
            let rest = outputs(&net, &[[0.5, 3.0, 4.0, 0.0, 0.0, 0.0, 1.0]]);
            assert!(
                alone.iter().zip(&rest).any(|(a, b)| (a - b).abs() > 1e-4),
                "{cell:?}: inputs outside the span reach the head"
            );
        }
    }

    #[test]
    fn gru_step_matches_the_formula() {
        // One token, so the final state is one GRU step from zero.
        let net = net(CellKind::Gru);
        let Reader::Recurrent(Words { embed, cell }) = &net.readers[0] else {
            unreachable!()
        };
        let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![6i64], [1, 1]), &Device::flex());
        let e: Vec<f32> = embed.forward(ids.clone()).into_data().try_to_vec().unwrap();
        let mask = Tensor::<2>::ones([1, 1], &Device::flex());
        let got: Vec<f32> = cell
            .forward(embed, ids, mask)
            .into_data()
            .try_to_vec()
            .unwrap();
        let w: Vec<f32> = cell.input.val().into_data().try_to_vec().unwrap();
        let b: Vec<f32> = cell.bias.val().into_data().try_to_vec().unwrap();
        let (h, width) = (3, 9);
        let pre: Vec<f32> = (0..width)
            .map(|j| b[j] + (0..4).map(|i| e[i] * w[i * width + j]).sum::<f32>())
            .collect();
        let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
        for k in 0..h {
            // From a zero state: r multiplies zero, h = (1 - z) n.
            let z = sig(pre[h + k]);
            let n = pre[2 * h + k].tanh();
            let want = (1.0 - z) * n;
            assert!((got[k] - want).abs() < 1e-5, "final state {k}");
            assert!((got[h + k] - want).abs() < 1e-5, "mean of one state {k}");
        }
    }
}
