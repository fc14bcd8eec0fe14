// SPDX-License-Identifier: MIT OR Apache-2.0
//! Reads the nodes and float weights of an ONNX file: just enough of the protobuf schema (onnx.proto)
//! for native kernels that take their weights from the same file ONNX Runtime would load.

use std::collections::HashMap;
use std::path::Path;

use prost::Message;

#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "3")]
    name: String,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct AttributeProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(int64, tag = "3")]
    i: i64,
    #[prost(bytes = "vec", tag = "4")]
    s: Vec<u8>,
    #[prost(int64, repeated, tag = "8")]
    ints: Vec<i64>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
}

/// ONNX `TensorProto.DataType.FLOAT`.
const FLOAT: i32 = 1;

/// A node attribute: integer, integer list or string (the kinds a convolution graph uses).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Attribute {
    Int(i64),
    Ints(Vec<i64>),
    Str(String),
}

/// One graph node.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) op_type: String,
    pub(crate) name: String,
    pub(crate) inputs: Vec<String>,
    pub(crate) outputs: Vec<String>,
    pub(crate) attributes: HashMap<String, Attribute>,
}

/// A float initializer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Weight {
    pub(crate) dims: Vec<usize>,
    pub(crate) data: Vec<f32>,
}

/// The nodes in file order and the float initializers by name (other initializer types are skipped).
#[derive(Clone, Debug)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<Node>,
    pub(crate) weights: HashMap<String, Weight>,
}

impl Graph {
    /// Reads `path`. Errors name what could not be read.
    pub(crate) fn read(path: &Path) -> Result<Graph, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Graph::decode(&bytes)
    }

    /// Decodes an ONNX model from memory.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Graph, String> {
        let model = ModelProto::decode(bytes).map_err(|e| format!("not an ONNX model: {e}"))?;
        let graph = model.graph.ok_or("the ONNX model has no graph")?;
        let mut weights = HashMap::new();
        for t in graph.initializer.into_iter().filter(|t| t.data_type == FLOAT) {
            let dims: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
            let count: usize = dims.iter().product();
            let data = if !t.raw_data.is_empty() {
                t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
            } else {
                t.float_data
            };
            if data.len() != count {
                return Err(format!(
                    "initializer {} holds {} values for shape {dims:?} (external data is not supported)",
                    t.name,
                    data.len()
                ));
            }
            weights.insert(t.name, Weight { dims, data });
        }
        let nodes = graph
            .node
            .into_iter()
            .map(|n| Node {
                attributes: n
                    .attribute
                    .into_iter()
                    .map(|a| {
                        let value = if !a.ints.is_empty() {
                            Attribute::Ints(a.ints)
                        } else if !a.s.is_empty() {
                            Attribute::Str(String::from_utf8_lossy(&a.s).into_owned())
                        } else {
                            Attribute::Int(a.i)
                        };
                        (a.name, value)
                    })
                    .collect(),
                op_type: n.op_type,
                name: n.name,
                inputs: n.input,
                outputs: n.output,
            })
            .collect();
        Ok(Graph { nodes, weights })
    }

    /// The float initializer feeding input `k` of `node`.
    pub(crate) fn weight(&self, node: &Node, k: usize) -> Option<&Weight> {
        node.inputs.get(k).and_then(|name| self.weights.get(name))
    }
}

impl Node {
    pub(crate) fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.get(name)
    }

    /// An integer-list attribute.
    pub(crate) fn ints(&self, name: &str) -> Option<&[i64]> {
        match self.attributes.get(name) {
            Some(Attribute::Ints(v)) => Some(v),
            _ => None,
        }
    }

    /// A string attribute.
    pub(crate) fn string(&self, name: &str) -> Option<&str> {
        match self.attributes.get(name) {
            Some(Attribute::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// A `Conv` with stride 1, no dilation, no padding and one group (attributes absent or so).
    pub(crate) fn is_plain_conv(&self) -> bool {
        let ones = |name| self.ints(name).is_none_or(|v| v.iter().all(|&s| s == 1));
        let zeros = self.ints("pads").is_none_or(|v| v.iter().all(|&p| p == 0));
        let pad_ok = matches!(self.string("auto_pad"), None | Some("NOTSET") | Some("VALID"));
        let group_ok = !matches!(self.attribute("group"), Some(Attribute::Int(g)) if *g != 1);
        self.op_type == "Conv" && ones("strides") && ones("dilations") && zeros && pad_ok && group_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_raw_and_listed_floats_nodes_and_attributes() {
        let model = ModelProto {
            graph: Some(GraphProto {
                node: vec![NodeProto {
                    input: vec!["x".into(), "w".into(), "b".into()],
                    output: vec!["y".into()],
                    name: "conv".into(),
                    op_type: "Conv".into(),
                    attribute: vec![
                        AttributeProto { name: "kernel_shape".into(), ints: vec![3, 3], ..Default::default() },
                        AttributeProto { name: "auto_pad".into(), s: b"VALID".to_vec(), ..Default::default() },
                        AttributeProto { name: "group".into(), i: 1, ..Default::default() },
                    ],
                }],
                initializer: vec![
                    TensorProto {
                        dims: vec![1, 2],
                        data_type: FLOAT,
                        name: "w".into(),
                        raw_data: [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect(),
                        ..Default::default()
                    },
                    TensorProto {
                        dims: vec![2],
                        data_type: FLOAT,
                        name: "b".into(),
                        float_data: vec![0.25, 4.0],
                        ..Default::default()
                    },
                    TensorProto { dims: vec![1], data_type: 7, name: "shape".into(), ..Default::default() },
                ],
            }),
        };
        let g = Graph::decode(&model.encode_to_vec()).unwrap();
        let conv = &g.nodes[0];
        assert_eq!((conv.op_type.as_str(), conv.name.as_str()), ("Conv", "conv"));
        assert_eq!(conv.attribute("kernel_shape"), Some(&Attribute::Ints(vec![3, 3])));
        assert_eq!(conv.attribute("auto_pad"), Some(&Attribute::Str("VALID".into())));
        assert_eq!(conv.attribute("group"), Some(&Attribute::Int(1)));
        assert_eq!(g.weight(conv, 1), Some(&Weight { dims: vec![1, 2], data: vec![1.5, -2.0] }));
        assert_eq!(g.weight(conv, 2).unwrap().data, vec![0.25, 4.0]);
        assert!(g.weight(conv, 0).is_none());
        assert!(!g.weights.contains_key("shape"), "non-float initializers are skipped");
    }

    #[test]
    fn short_data_and_garbage_are_errors() {
        let model = ModelProto {
            graph: Some(GraphProto {
                initializer: vec![TensorProto {
                    dims: vec![3],
                    data_type: FLOAT,
                    name: "w".into(),
                    float_data: vec![1.0],
                    ..Default::default()
                }],
                ..Default::default()
            }),
        };
        assert!(Graph::decode(&model.encode_to_vec()).unwrap_err().contains("external data"));
        assert!(Graph::decode(b"\xff\xff\xff").is_err());
    }
}
