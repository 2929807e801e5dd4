//! The operators Kiln runs, with their attributes read and checked once, when a model loads.

use crate::proto::{AttributeProto, NodeProto, attribute_type, data_type};
use crate::value::Float;

/// Every ONNX operator (default domain) Kiln's runner accepts.
pub const SUPPORTED_OPS: &[&str] = &[
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "Conv",
    "Div",
    "Dropout",
    "Flatten",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "LeakyRelu",
    "MatMul",
    "MaxPool",
    "Mul",
    "PRelu",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

/// An element-wise function of one tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    /// max(x, 0).
    Relu,
    /// 1 / (1 + e^-x).
    Sigmoid,
    /// tanh(x).
    Tanh,
    /// clamp(alpha·x + beta, 0, 1).
    HardSigmoid {
        /// The slope.
        alpha: f32,
        /// The offset.
        beta: f32,
    },
    /// x · clamp(x/6 + 1/2, 0, 1).
    HardSwish,
    /// x where positive, alpha·x elsewhere.
    LeakyRelu {
        /// The negative slope.
        alpha: f32,
    },
    /// x (also Dropout at inference).
    Identity,
}

/// An element-wise function of two broadcast tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// a + b.
    Add,
    /// a - b.
    Sub,
    /// a · b.
    Mul,
    /// a / b.
    Div,
}

/// How a convolution or pooling window's padding is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoPad {
    /// The `pads` attribute says.
    NotSet,
    /// No padding.
    Valid,
    /// Output size = ceil(input / stride), any odd padding at the end.
    SameUpper,
    /// Output size = ceil(input / stride), any odd padding at the start.
    SameLower,
}

/// A sliding window's attributes (Conv, MaxPool, AveragePool), per spatial axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Window size; for Conv, `None` means "from the weight".
    pub kernel: Option<Vec<usize>>,
    /// Steps; empty means 1 on every axis.
    pub strides: Vec<usize>,
    /// Padding as ONNX orders it: every axis's start, then every axis's end; empty means 0.
    pub pads: Vec<usize>,
    /// Dilations; empty means 1 on every axis.
    pub dilations: Vec<usize>,
    /// How padding is chosen.
    pub auto_pad: AutoPad,
    /// Whether partial windows at the end make an output (pooling only).
    pub ceil_mode: bool,
}

/// Slice bounds given as attributes (before opset 10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceAttrs {
    /// First index per axis.
    pub starts: Vec<i64>,
    /// One past the last index per axis.
    pub ends: Vec<i64>,
    /// The axes sliced (all, in order, when absent).
    pub axes: Option<Vec<i64>>,
}

/// One operator with its attributes.
#[derive(Debug, Clone)]
pub enum Op {
    /// Convolution (any `group`, so depthwise too); inputs X, W, optional B.
    Conv {
        /// The window.
        window: Window,
        /// Channel groups.
        group: usize,
    },
    /// Inference batch normalisation; inputs X, scale, B, mean, var.
    BatchNorm {
        /// Added to the variance.
        epsilon: f32,
    },
    /// A batch normalisation with constant statistics, as X · scale + shift per channel.
    Affine {
        /// Per-channel factor, shape [C].
        scale: Box<Float>,
        /// Per-channel offset, shape [C].
        shift: Box<Float>,
    },
    /// An element-wise function.
    Unary(Unary),
    /// An element-wise function of two tensors.
    Binary(Binary),
    /// A binary operator with a constant one-element operand, as a scalar operation.
    Scalar {
        /// The operator.
        f: Binary,
        /// The constant.
        value: f32,
        /// The constant's shape (it may add leading axes).
        shape: Vec<usize>,
        /// Whether the tensor is the left operand (x ∘ value) rather than the right.
        tensor_first: bool,
    },
    /// x where positive, slope·x elsewhere; inputs X, slope.
    PRelu,
    /// clamp(x, min, max); bounds from attributes (opset < 11) or from inputs 2 and 3.
    Clip {
        /// The lower bound, if fixed.
        min: Option<f32>,
        /// The upper bound, if fixed.
        max: Option<f32>,
        /// Whether the bounds are inputs read at run time.
        from_inputs: bool,
    },
    /// Mean or maximum over all spatial positions.
    GlobalPool {
        /// Maximum rather than mean.
        max: bool,
    },
    /// Maximum over windows.
    MaxPool(Window),
    /// Mean over windows.
    AveragePool {
        /// The window.
        window: Window,
        /// Whether padding counts in the divisor.
        count_include_pad: bool,
    },
    /// New shape from input 2 (0 copies a dimension unless `allowzero`; -1 is inferred).
    Reshape {
        /// 0 means a zero-size dimension rather than "copy".
        allowzero: bool,
    },
    /// The input's shape (from `start` to `end`) as an integer vector.
    Shape {
        /// First axis.
        start: i64,
        /// One past the last axis, if given.
        end: Option<i64>,
    },
    /// A sub-tensor; bounds as attributes (opset < 10) or inputs.
    Slice {
        /// The bounds, when given as attributes.
        attrs: Option<SliceAttrs>,
    },
    /// Tensors joined along an axis.
    Concat {
        /// The axis (negative counts from the end).
        axis: i64,
    },
    /// Element type conversion to FLOAT, INT32 or INT64.
    Cast {
        /// The target type.
        to: i32,
    },
    /// Elements picked along an axis by an index tensor.
    Gather {
        /// The axis.
        axis: i64,
    },
    /// New size-1 axes; from the attribute (opset < 13) or input 2.
    Unsqueeze {
        /// The axes, if an attribute.
        axes: Option<Vec<i64>>,
    },
    /// Size-1 axes removed; from the attribute (opset < 13) or input 2; all if none.
    Squeeze {
        /// The axes, if an attribute.
        axes: Option<Vec<i64>>,
    },
    /// To two dimensions, split before `axis`.
    Flatten {
        /// The split axis.
        axis: i64,
    },
    /// Axes reordered (reversed when `perm` is absent).
    Transpose {
        /// Output axis i is input axis perm[i].
        perm: Option<Vec<usize>>,
    },
    /// Matrix product with numpy broadcasting.
    MatMul,
    /// alpha · A' · B' + beta · C.
    Gemm {
        /// Product factor.
        alpha: f32,
        /// Bias factor.
        beta: f32,
        /// Whether A is transposed.
        trans_a: bool,
        /// Whether B is transposed.
        trans_b: bool,
    },
    /// Softmax over an axis (or, before opset 13, over everything from `axis` on).
    Softmax {
        /// The axis.
        axis: i64,
        /// Opset < 13: the input is seen as 2-D, split before `axis`.
        coerce: bool,
    },
}

impl Op {
    /// How many outputs the operator computes (further node outputs must be unused).
    pub fn outputs(&self) -> usize {
        1
    }
}

/// Why a node could not be read.
#[derive(Debug)]
pub enum ParseError {
    /// The operator is not one Kiln runs.
    Unsupported,
    /// A type attribute names an element type Kiln does not compute with.
    Type(String),
    /// An attribute is missing, of the wrong kind, or out of range.
    Bad(String),
}

/// A node's attributes by name.
struct Attrs<'a>(&'a [AttributeProto]);

impl Attrs<'_> {
    /// The attribute `name`, if present, checked to be of `kind` (or of no declared kind).
    fn find(&self, name: &str, kind: i32) -> Result<Option<&AttributeProto>, ParseError> {
        match self.0.iter().find(|a| a.name == name) {
            Some(a) if a.r#type == kind || a.r#type == attribute_type::UNDEFINED => Ok(Some(a)),
            Some(a) => Err(ParseError::Bad(format!(
                "attribute '{name}' has attribute type {}, expected {kind}",
                a.r#type
            ))),
            None => Ok(None),
        }
    }

    /// An integer attribute, or `default`.
    fn int(&self, name: &str, default: i64) -> Result<i64, ParseError> {
        Ok(self
            .find(name, attribute_type::INT)?
            .map_or(default, |a| a.i))
    }

    /// A float attribute, or `default`.
    fn float(&self, name: &str, default: f32) -> Result<f32, ParseError> {
        Ok(self
            .find(name, attribute_type::FLOAT)?
            .map_or(default, |a| a.f))
    }

    /// An integer-list attribute, if present.
    fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, ParseError> {
        Ok(self
            .find(name, attribute_type::INTS)?
            .map(|a| a.ints.clone()))
    }

    /// A string attribute, if present.
    fn string(&self, name: &str) -> Result<Option<String>, ParseError> {
        Ok(self
            .find(name, attribute_type::STRING)?
            .map(|a| String::from_utf8_lossy(&a.s).into_owned()))
    }

    /// A list of sizes, each at least `least`.
    fn sizes(&self, name: &str, least: i64) -> Result<Vec<usize>, ParseError> {
        let values = self.ints(name)?.unwrap_or_default();
        values
            .iter()
            .map(|&v| {
                if v < least {
                    Err(ParseError::Bad(format!(
                        "attribute '{name}' = {values:?} has a value below {least}"
                    )))
                } else {
                    Ok(v as usize)
                }
            })
            .collect()
    }
}

/// A window's attributes.
fn window(attrs: &Attrs, pooling: bool) -> Result<Window, ParseError> {
    let kernel = match attrs.ints("kernel_shape")? {
        Some(_) => Some(attrs.sizes("kernel_shape", 1)?),
        None if pooling => {
            return Err(ParseError::Bad(
                "the required attribute 'kernel_shape' is missing".into(),
            ));
        }
        None => None,
    };
    let auto_pad = match attrs.string("auto_pad")?.as_deref() {
        None | Some("NOTSET") | Some("") => AutoPad::NotSet,
        Some("VALID") => AutoPad::Valid,
        Some("SAME_UPPER") => AutoPad::SameUpper,
        Some("SAME_LOWER") => AutoPad::SameLower,
        Some(other) => {
            return Err(ParseError::Bad(format!(
                "auto_pad '{other}' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER"
            )));
        }
    };
    Ok(Window {
        kernel,
        strides: attrs.sizes("strides", 1)?,
        pads: attrs.sizes("pads", 0)?,
        dilations: attrs.sizes("dilations", 1)?,
        auto_pad,
        ceil_mode: attrs.int("ceil_mode", 0)? != 0,
    })
}

/// The operator of `node` (default domain) under operator set `opset`.
pub fn parse(node: &NodeProto, opset: i64) -> Result<Op, ParseError> {
    let attrs = Attrs(&node.attribute);
    let op = match node.op_type.as_str() {
        "Conv" => {
            let group = attrs.int("group", 1)?;
            if group < 1 {
                return Err(ParseError::Bad(format!("group {group} is below 1")));
            }
            Op::Conv {
                window: window(&attrs, false)?,
                group: group as usize,
            }
        }
        "BatchNormalization" => {
            if attrs.int("training_mode", 0)? != 0 {
                return Err(ParseError::Bad(
                    "training_mode = 1; Kiln runs batch normalisation for inference only".into(),
                ));
            }
            Op::BatchNorm {
                epsilon: attrs.float("epsilon", 1e-5)?,
            }
        }
        "Relu" => Op::Unary(Unary::Relu),
        "Sigmoid" => Op::Unary(Unary::Sigmoid),
        "Tanh" => Op::Unary(Unary::Tanh),
        "HardSigmoid" => Op::Unary(Unary::HardSigmoid {
            alpha: attrs.float("alpha", 0.2)?,
            beta: attrs.float("beta", 0.5)?,
        }),
        "HardSwish" => Op::Unary(Unary::HardSwish),
        "LeakyRelu" => Op::Unary(Unary::LeakyRelu {
            alpha: attrs.float("alpha", 0.01)?,
        }),
        "Identity" | "Dropout" => Op::Unary(Unary::Identity),
        "Add" => Op::Binary(Binary::Add),
        "Sub" => Op::Binary(Binary::Sub),
        "Mul" => Op::Binary(Binary::Mul),
        "Div" => Op::Binary(Binary::Div),
        "PRelu" => Op::PRelu,
        "Clip" if opset < 11 => Op::Clip {
            min: Some(attrs.float("min", f32::MIN)?),
            max: Some(attrs.float("max", f32::MAX)?),
            from_inputs: false,
        },
        "Clip" => Op::Clip {
            min: None,
            max: None,
            from_inputs: true,
        },
        "GlobalAveragePool" => Op::GlobalPool { max: false },
        "GlobalMaxPool" => Op::GlobalPool { max: true },
        "MaxPool" => Op::MaxPool(window(&attrs, true)?),
        "AveragePool" => {
            let window = window(&attrs, true)?;
            if window.dilations.iter().any(|&d| d != 1) {
                return Err(ParseError::Bad(
                    "AveragePool with dilations other than 1 is not supported".into(),
                ));
            }
            Op::AveragePool {
                window,
                count_include_pad: attrs.int("count_include_pad", 0)? != 0,
            }
        }
        "Reshape" if opset < 5 => {
            return Err(ParseError::Bad(
                "Reshape before opset 5 (shape as an attribute) is not supported; convert the \
                 model to a newer opset"
                    .into(),
            ));
        }
        "Reshape" => Op::Reshape {
            allowzero: attrs.int("allowzero", 0)? != 0,
        },
        "Shape" => Op::Shape {
            start: attrs.int("start", 0)?,
            end: attrs.find("end", attribute_type::INT)?.map(|a| a.i),
        },
        "Slice" if opset < 10 => {
            let need = |name: &str| {
                attrs.ints(name)?.ok_or_else(|| {
                    ParseError::Bad(format!("the required attribute '{name}' is missing"))
                })
            };
            Op::Slice {
                attrs: Some(SliceAttrs {
                    starts: need("starts")?,
                    ends: need("ends")?,
                    axes: attrs.ints("axes")?,
                }),
            }
        }
        "Slice" => Op::Slice { attrs: None },
        "Concat" => Op::Concat {
            axis: attrs
                .find("axis", attribute_type::INT)?
                .map(|a| a.i)
                .ok_or_else(|| {
                    ParseError::Bad("the required attribute 'axis' is missing".into())
                })?,
        },
        "Cast" => {
            let to = attrs.int("to", 0)? as i32;
            if ![data_type::FLOAT, data_type::INT32, data_type::INT64].contains(&to) {
                return Err(ParseError::Type(data_type::name(to)));
            }
            Op::Cast { to }
        }
        "Gather" => Op::Gather {
            axis: attrs.int("axis", 0)?,
        },
        "Unsqueeze" if opset < 13 => Op::Unsqueeze {
            axes: Some(attrs.ints("axes")?.ok_or_else(|| {
                ParseError::Bad("the required attribute 'axes' is missing".into())
            })?),
        },
        "Unsqueeze" => Op::Unsqueeze { axes: None },
        "Squeeze" if opset < 13 => Op::Squeeze {
            axes: attrs.ints("axes")?,
        },
        "Squeeze" => Op::Squeeze { axes: None },
        "Flatten" => Op::Flatten {
            axis: attrs.int("axis", 1)?,
        },
        "Transpose" => Op::Transpose {
            perm: match attrs.ints("perm")? {
                Some(perm) => Some(
                    perm.iter()
                        .map(|&p| {
                            usize::try_from(p).map_err(|_| {
                                ParseError::Bad(format!("perm {perm:?} has a negative axis"))
                            })
                        })
                        .collect::<Result<_, _>>()?,
                ),
                None => None,
            },
        },
        "MatMul" => Op::MatMul,
        "Gemm" => Op::Gemm {
            alpha: attrs.float("alpha", 1.0)?,
            beta: attrs.float("beta", 1.0)?,
            trans_a: attrs.int("transA", 0)? != 0,
            trans_b: attrs.int("transB", 0)? != 0,
        },
        "Softmax" => Op::Softmax {
            axis: attrs.int("axis", if opset < 13 { 1 } else { -1 })?,
            coerce: opset < 13,
        },
        _ => return Err(ParseError::Unsupported),
    };
    Ok(op)
}

/// The stored tensor a `Constant` node holds, from whichever attribute it uses.
pub fn constant(node: &NodeProto) -> Result<crate::proto::TensorProto, ParseError> {
    use crate::proto::TensorProto;
    let attrs = Attrs(&node.attribute);
    if let Some(a) = attrs.find("value", attribute_type::TENSOR)? {
        return a
            .t
            .clone()
            .ok_or_else(|| ParseError::Bad("its 'value' attribute holds no tensor".into()));
    }
    if let Some(a) = attrs.find("value_float", attribute_type::FLOAT)? {
        return Ok(TensorProto {
            data_type: data_type::FLOAT,
            float_data: vec![a.f],
            ..TensorProto::default()
        });
    }
    if let Some(a) = attrs.find("value_floats", attribute_type::FLOATS)? {
        return Ok(TensorProto {
            dims: vec![a.floats.len() as i64],
            data_type: data_type::FLOAT,
            float_data: a.floats.clone(),
            ..TensorProto::default()
        });
    }
    if let Some(a) = attrs.find("value_int", attribute_type::INT)? {
        return Ok(TensorProto {
            data_type: data_type::INT64,
            int64_data: vec![a.i],
            ..TensorProto::default()
        });
    }
    if let Some(a) = attrs.find("value_ints", attribute_type::INTS)? {
        return Ok(TensorProto {
            dims: vec![a.ints.len() as i64],
            data_type: data_type::INT64,
            int64_data: a.ints.clone(),
            ..TensorProto::default()
        });
    }
    Err(ParseError::Bad(
        "it has none of the attributes value, value_float(s), value_int(s); sparse and string \
         constants are not supported"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: &str, attribute: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            attribute,
            ..NodeProto::default()
        }
    }

    fn ints(name: &str, values: &[i64]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: attribute_type::INTS,
            ints: values.to_vec(),
            ..AttributeProto::default()
        }
    }

    #[test]
    fn conv_attributes_are_read() {
        let n = node(
            "Conv",
            vec![
                ints("pads", &[1, 1, 1, 1]),
                ints("strides", &[2, 1]),
                AttributeProto {
                    name: "group".into(),
                    r#type: attribute_type::INT,
                    i: 8,
                    ..AttributeProto::default()
                },
            ],
        );
        let Op::Conv { window, group } = parse(&n, 11).unwrap() else {
            panic!("conv expected")
        };
        assert_eq!(group, 8);
        assert_eq!(window.strides, vec![2, 1]);
        assert_eq!(window.pads, vec![1, 1, 1, 1]);
        assert_eq!(window.auto_pad, AutoPad::NotSet);
    }

    #[test]
    fn bad_attributes_and_unknown_ops_are_refused() {
        assert!(matches!(
            parse(&node("Conv", vec![ints("strides", &[0, 1])]), 11),
            Err(ParseError::Bad(_))
        ));
        assert!(matches!(
            parse(&node("MaxPool", vec![]), 11),
            Err(ParseError::Bad(_))
        ));
        assert!(matches!(
            parse(&node("Einsum", vec![]), 11),
            Err(ParseError::Unsupported)
        ));
        let cast = node(
            "Cast",
            vec![AttributeProto {
                name: "to".into(),
                r#type: attribute_type::INT,
                i: i64::from(data_type::DOUBLE),
                ..AttributeProto::default()
            }],
        );
        assert!(matches!(parse(&cast, 11), Err(ParseError::Type(t)) if t == "DOUBLE"));
    }

    #[test]
    fn softmax_axis_default_depends_on_opset() {
        let Op::Softmax { axis, coerce } = parse(&node("Softmax", vec![]), 11).unwrap() else {
            panic!()
        };
        assert_eq!((axis, coerce), (1, true));
        let Op::Softmax { axis, coerce } = parse(&node("Softmax", vec![]), 13).unwrap() else {
            panic!()
        };
        assert_eq!((axis, coerce), (-1, false));
    }
}
