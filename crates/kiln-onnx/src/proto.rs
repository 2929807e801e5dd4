//! The part of ONNX's `onnx.proto` that a model file needs to be read: the model, its graph,
//! nodes, attributes, tensors and value types. Field numbers are those of `onnx.proto`;
//! fields Kiln never reads (training info, functions, sparse tensors, sub-graphs) are left
//! out, and the decoder skips them.

use prost::Message;

/// A whole `.onnx` file: format version, operator sets and the graph.
#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    /// The ONNX IR version the file was written with.
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    /// The operator sets (domain and version) the graph's nodes are defined by.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    /// The tool that wrote the file.
    #[prost(string, tag = "2")]
    pub producer_name: String,
    /// That tool's version.
    #[prost(string, tag = "3")]
    pub producer_version: String,
    /// The model's namespace.
    #[prost(string, tag = "4")]
    pub domain: String,
    /// The model's own version.
    #[prost(int64, tag = "5")]
    pub model_version: i64,
    /// Free text about the model.
    #[prost(string, tag = "6")]
    pub doc_string: String,
    /// The computation.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
}

/// One operator set a model uses: a domain ("" is ONNX's own) and its version.
#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    /// The domain; empty for the default ONNX operators.
    #[prost(string, tag = "1")]
    pub domain: String,
    /// The operator set version.
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// A computation graph: nodes in order, constant tensors, inputs and outputs.
#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    /// The nodes, in topological order.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// The graph's name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Named constant tensors (weights).
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// Free text about the graph.
    #[prost(string, tag = "10")]
    pub doc_string: String,
    /// The graph's inputs (older files also list initializers here).
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// The graph's outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    /// Types of intermediate values, where the writer recorded them.
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

/// One operator application: its inputs, outputs, operator and attributes.
#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    /// Names of the values read; an empty name is an omitted optional input.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Names of the values written.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// The node's name (may be empty).
    #[prost(string, tag = "3")]
    pub name: String,
    /// The operator, such as "Conv".
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// The operator's domain; empty for ONNX's own.
    #[prost(string, tag = "7")]
    pub domain: String,
    /// The operator's attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    /// Free text about the node.
    #[prost(string, tag = "6")]
    pub doc_string: String,
}

/// A named attribute of a node; `r#type` says which value field holds it.
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    /// The attribute's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Names an attribute of the enclosing function (unused in graphs).
    #[prost(string, tag = "21")]
    pub ref_attr_name: String,
    /// Free text about the attribute.
    #[prost(string, tag = "13")]
    pub doc_string: String,
    /// Which field holds the value (see [`attribute_type`]).
    #[prost(int32, tag = "20")]
    pub r#type: i32,
    /// A float value.
    #[prost(float, tag = "2")]
    pub f: f32,
    /// An integer value.
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// A string value (UTF-8 bytes).
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    /// A tensor value.
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// A list of floats.
    #[prost(float, repeated, packed = "false", tag = "7")]
    pub floats: Vec<f32>,
    /// A list of integers.
    #[prost(int64, repeated, packed = "false", tag = "8")]
    pub ints: Vec<i64>,
    /// A list of strings.
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
    /// A list of tensors.
    #[prost(message, repeated, tag = "10")]
    pub tensors: Vec<TensorProto>,
}

/// The values of [`AttributeProto::type`], as `onnx.proto` numbers them.
pub mod attribute_type {
    /// Not set (files from before the field existed).
    pub const UNDEFINED: i32 = 0;
    /// `f`.
    pub const FLOAT: i32 = 1;
    /// `i`.
    pub const INT: i32 = 2;
    /// `s`.
    pub const STRING: i32 = 3;
    /// `t`.
    pub const TENSOR: i32 = 4;
    /// `g` (a sub-graph; not read by Kiln).
    pub const GRAPH: i32 = 5;
    /// `floats`.
    pub const FLOATS: i32 = 6;
    /// `ints`.
    pub const INTS: i32 = 7;
    /// `strings`.
    pub const STRINGS: i32 = 8;
    /// `tensors`.
    pub const TENSORS: i32 = 9;
}

/// A tensor's element type, shape and values (in one of several fields, or in `raw_data`).
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    /// Dimensions, outermost first; none for a scalar.
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    /// The element type (see [`data_type`]).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// Values of FLOAT tensors (and COMPLEX64).
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// Values of INT32 tensors, and of the narrower integer, BOOL and FLOAT16 types.
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    /// Values of STRING tensors.
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub string_data: Vec<Vec<u8>>,
    /// Values of INT64 tensors.
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    /// The tensor's name (an initializer's value name).
    #[prost(string, tag = "8")]
    pub name: String,
    /// Free text about the tensor.
    #[prost(string, tag = "12")]
    pub doc_string: String,
    /// Values as little-endian bytes, in place of the typed fields.
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    /// Where the values are when they are stored outside the model file.
    #[prost(message, repeated, tag = "13")]
    pub external_data: Vec<StringStringEntryProto>,
    /// 0: values in this message; 1: in an external file.
    #[prost(int32, tag = "14")]
    pub data_location: i32,
    /// Values of DOUBLE tensors (and COMPLEX128).
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
    /// Values of UINT32 and UINT64 tensors.
    #[prost(uint64, repeated, tag = "11")]
    pub uint64_data: Vec<u64>,
}

/// The values of [`TensorProto::data_type`] (and of tensor types' `elem_type`), as
/// `onnx.proto` numbers them.
pub mod data_type {
    /// 32-bit float.
    pub const FLOAT: i32 = 1;
    /// Unsigned byte.
    pub const UINT8: i32 = 2;
    /// Signed byte.
    pub const INT8: i32 = 3;
    /// Unsigned 16-bit integer.
    pub const UINT16: i32 = 4;
    /// Signed 16-bit integer.
    pub const INT16: i32 = 5;
    /// Signed 32-bit integer.
    pub const INT32: i32 = 6;
    /// Signed 64-bit integer.
    pub const INT64: i32 = 7;
    /// String.
    pub const STRING: i32 = 8;
    /// Boolean.
    pub const BOOL: i32 = 9;
    /// 16-bit float.
    pub const FLOAT16: i32 = 10;
    /// 64-bit float.
    pub const DOUBLE: i32 = 11;

    /// The type's name as `onnx.proto` spells it.
    pub fn name(data_type: i32) -> String {
        let known = [
            "UNDEFINED",
            "FLOAT",
            "UINT8",
            "INT8",
            "UINT16",
            "INT16",
            "INT32",
            "INT64",
            "STRING",
            "BOOL",
            "FLOAT16",
            "DOUBLE",
            "UINT32",
            "UINT64",
            "COMPLEX64",
            "COMPLEX128",
            "BFLOAT16",
        ];
        usize::try_from(data_type)
            .ok()
            .and_then(|i| known.get(i))
            .map_or_else(|| format!("type {data_type}"), |name| (*name).to_string())
    }
}

/// A key and a value (used for external-data locations).
#[derive(Clone, PartialEq, Message)]
pub struct StringStringEntryProto {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A graph input's or output's name and type.
#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    /// The value's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its type.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    /// Free text about the value.
    #[prost(string, tag = "3")]
    pub doc_string: String,
}

/// A value's type; Kiln reads only tensor types.
#[derive(Clone, PartialEq, Message)]
pub struct TypeProto {
    /// Which kind of type this is.
    #[prost(oneof = "type_proto::Value", tags = "1")]
    pub value: Option<type_proto::Value>,
    /// A standard meaning of the value, such as "IMAGE".
    #[prost(string, tag = "6")]
    pub denotation: String,
}

/// The kinds of [`TypeProto`] and a tensor type's parts.
pub mod type_proto {
    use super::TensorShapeProto;
    use prost::{Message, Oneof};

    /// The kind of a type (sequences, maps and the rest are skipped when read).
    #[derive(Clone, PartialEq, Oneof)]
    pub enum Value {
        /// A tensor.
        #[prost(message, tag = "1")]
        TensorType(Tensor),
    }

    /// A tensor type: element type and (possibly partly unknown) shape.
    #[derive(Clone, PartialEq, Message)]
    pub struct Tensor {
        /// The element type (see [`super::data_type`]).
        #[prost(int32, tag = "1")]
        pub elem_type: i32,
        /// The shape, where known.
        #[prost(message, optional, tag = "2")]
        pub shape: Option<TensorShapeProto>,
    }
}

/// A tensor shape whose dimensions may be fixed numbers or named free sizes.
#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    /// The dimensions, outermost first.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<tensor_shape_proto::Dimension>,
}

/// A dimension of [`TensorShapeProto`].
pub mod tensor_shape_proto {
    use prost::Message;

    /// One dimension: a number, a name, or nothing (unknown).
    #[derive(Clone, PartialEq, Message)]
    pub struct Dimension {
        /// The size, or its name.
        #[prost(oneof = "dimension::Value", tags = "1, 2")]
        pub value: Option<dimension::Value>,
        /// A standard meaning of the dimension, such as "DATA_BATCH".
        #[prost(string, tag = "3")]
        pub denotation: String,
    }

    /// The two forms of a dimension.
    pub mod dimension {
        use prost::Oneof;

        /// A fixed size or a named free size.
        #[derive(Clone, PartialEq, Oneof)]
        pub enum Value {
            /// A fixed size (some writers put -1 here for a free one).
            #[prost(int64, tag = "1")]
            DimValue(i64),
            /// A named free size, such as "batch".
            #[prost(string, tag = "2")]
            DimParam(String),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_survives_encoding_and_decoding() {
        let model = ModelProto {
            ir_version: 7,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 11,
            }],
            graph: Some(GraphProto {
                node: vec![NodeProto {
                    input: vec!["x".into()],
                    output: vec!["y".into()],
                    op_type: "Relu".into(),
                    ..NodeProto::default()
                }],
                initializer: vec![TensorProto {
                    dims: vec![2],
                    data_type: data_type::FLOAT,
                    float_data: vec![1.0, 2.0],
                    ..TensorProto::default()
                }],
                ..GraphProto::default()
            }),
            ..ModelProto::default()
        };
        let bytes = model.encode_to_vec();
        assert_eq!(ModelProto::decode(bytes.as_slice()).unwrap(), model);
    }

    #[test]
    fn type_names_follow_onnx() {
        assert_eq!(data_type::name(data_type::FLOAT), "FLOAT");
        assert_eq!(data_type::name(data_type::BOOL), "BOOL");
        assert_eq!(data_type::name(99), "type 99");
    }
}
