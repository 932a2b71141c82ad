//! The registry of operators: one arm per operator (its variant, the type of its
//! [`Operator`](super::Operator)).

/// The registry of operators: `dispatch_op!(op, D, a => body)` evaluates `body` with
/// the type alias `D` naming the [`Operator`](crate::ops::Operator) of `op` (an `&Op`) and `a` bound to its
/// attributes (`&D::Attrs`: the variant's payload, `&()` for a variant without one).
/// One arm per operator; the engine implements its lowering trait on the same types
/// and dispatches through this macro too.
#[macro_export]
macro_rules! dispatch_op {
    ($op:expr, $D:ident, $a:ident => $body:expr) => {
        match $op {
            $crate::ops::Op::Dense($a) => {
                type $D = $crate::ops::dense::DenseOp;
                $body
            }
            $crate::ops::Op::Conv($a) => {
                type $D = $crate::ops::conv::ConvOp;
                $body
            }
            $crate::ops::Op::Relu => {
                type $D = $crate::ops::relu::ReluOp;
                let $a = &();
                $body
            }
            $crate::ops::Op::MaxPool($a) => {
                type $D = $crate::ops::maxpool::MaxPoolOp;
                $body
            }
            $crate::ops::Op::AvgPool($a) => {
                type $D = $crate::ops::avgpool::AvgPoolOp;
                $body
            }
            $crate::ops::Op::Reshape($a) => {
                type $D = $crate::ops::reshape::ReshapeOp;
                $body
            }
            $crate::ops::Op::SecureMlSigmoid => {
                type $D = $crate::ops::secureml_sigmoid::SecureMlSigmoidOp;
                let $a = &();
                $body
            }
            $crate::ops::Op::Square => {
                type $D = $crate::ops::square::SquareOp;
                let $a = &();
                $body
            }
            $crate::ops::Op::Add => {
                type $D = $crate::ops::elementwise::AddOp;
                let $a = &();
                $body
            }
            $crate::ops::Op::Sub => {
                type $D = $crate::ops::elementwise::SubOp;
                let $a = &();
                $body
            }
            $crate::ops::Op::Mul => {
                type $D = $crate::ops::elementwise::MulOp;
                let $a = &();
                $body
            }
            $crate::ops::Op::Neg => {
                type $D = $crate::ops::elementwise::NegOp;
                let $a = &();
                $body
            }
            $crate::ops::Op::Concat($a) => {
                type $D = $crate::ops::concat::ConcatOp;
                $body
            }
            $crate::ops::Op::Remap($a) => {
                type $D = $crate::ops::remap::RemapOp;
                $body
            }
            $crate::ops::Op::Softmax($a) => {
                type $D = $crate::ops::softmax::SoftmaxOp;
                $body
            }
            $crate::ops::Op::Sigmoid => {
                type $D = $crate::ops::spline::SplineOp<$crate::ops::smooth::Logistic>;
                let $a = &$crate::ops::smooth::Logistic;
                $body
            }
            $crate::ops::Op::Tanh => {
                type $D = $crate::ops::spline::SplineOp<$crate::ops::smooth::Tanh>;
                let $a = &$crate::ops::smooth::Tanh;
                $body
            }
            $crate::ops::Op::Elu($a) => {
                type $D = $crate::ops::spline::SplineOp<$crate::ops::smooth::Elu>;
                $body
            }
            $crate::ops::Op::Selu($a) => {
                type $D = $crate::ops::spline::SplineOp<$crate::ops::smooth::Selu>;
                $body
            }
            $crate::ops::Op::Softplus => {
                type $D = $crate::ops::spline::SplineOp<$crate::ops::smooth::Softplus>;
                let $a = &$crate::ops::smooth::Softplus;
                $body
            }
            $crate::ops::Op::Softsign => {
                type $D = $crate::ops::spline::SplineOp<$crate::ops::smooth::Softsign>;
                let $a = &$crate::ops::smooth::Softsign;
                $body
            }
            $crate::ops::Op::LeakyRelu($a) => {
                type $D = $crate::ops::prelu::LeakyReluOp;
                $body
            }
            $crate::ops::Op::PRelu($a) => {
                type $D = $crate::ops::prelu::PReluOp;
                $body
            }
            $crate::ops::Op::Clip($a) => {
                type $D = $crate::ops::clip::ClipOp;
                $body
            }
            $crate::ops::Op::Abs => {
                type $D = $crate::ops::sign::AbsOp;
                let $a = &();
                $body
            }
            $crate::ops::Op::Sign => {
                type $D = $crate::ops::sign::SignOp;
                let $a = &();
                $body
            }
            $crate::ops::Op::Max => {
                type $D = $crate::ops::minmax::MaxOp;
                let $a = &();
                $body
            }
            $crate::ops::Op::Min => {
                type $D = $crate::ops::minmax::MinOp;
                let $a = &();
                $body
            }
            $crate::ops::Op::Exp => {
                type $D = $crate::ops::exp::ExpOp;
                let $a = &();
                $body
            }
            $crate::ops::Op::Divide => {
                type $D = $crate::ops::divide::DivideOp;
                let $a = &();
                $body
            }
            $crate::ops::Op::Reciprocal => {
                type $D = $crate::ops::divide::ReciprocalOp;
                let $a = &();
                $body
            }
            $crate::ops::Op::AddConst($a) => {
                type $D = $crate::ops::affine::AddConstOp;
                $body
            }
            $crate::ops::Op::MulConst($a) => {
                type $D = $crate::ops::affine::MulConstOp;
                $body
            }
            $crate::ops::Op::MatMul => {
                type $D = $crate::ops::matmul::MatMulOp;
                let $a = &();
                $body
            }
        }
    };
}
