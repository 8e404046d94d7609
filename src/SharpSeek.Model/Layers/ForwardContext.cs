// ForwardContext — what every layer's Forward shares: the worker pool, the activation precision, and the
// sizes activation buffers are allocated for (once, at construction).
//
// Activation precision (`sharpseek logits --precision`):
//   Fp32 : FP32 activations everywhere.
//   Bf16 : every linear output, every RMSNorm output, the SwiGLU product, the attention output, the absorbed
//          query/latent products and the residual stream after each add are rounded to BF16 (round-to-nearest-
//          even), i.e. every GEMM input is BF16, as in the official bf16 run. GEMMs accumulate in FP32; RMSNorm
//          statistics, softmax, attention scores and the router (sigmoid, bias, top-k, weights) stay FP32.
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public enum ActivationPrecision
{
    Fp32,
    Bf16,
}

/// <summary>The two MLA formulations: expand the latent to per-head keys/values (prefill, training) or absorb
/// kv_b_proj into the query and output and attend over the latent (decode).</summary>
public enum MlaPath
{
    Naive,
    Absorbed,
}

/// <summary>Capacity of the activation buffers: tokens per forward call, sequences per call, and the longest
/// context (positions) attention may see.</summary>
public readonly record struct ForwardCapacity(int MaxTokens, int MaxSequences, int MaxContext)
{
    public void Check(ForwardBatch batch)
    {
        if (batch.Tokens > MaxTokens)
            throw new ArgumentException($"batch has {batch.Tokens} tokens; the model was built for at most {MaxTokens} per call.");
        if (batch.SequenceCount > MaxSequences)
            throw new ArgumentException($"batch has {batch.SequenceCount} sequences; the model was built for at most {MaxSequences}.");
        for (int s = 0; s < batch.SequenceCount; s++)
        {
            var seq = batch.Sequences[s];
            if (seq.StartPos + seq.Rows > MaxContext)
                throw new ArgumentException($"sequence {s} reaches position {seq.StartPos + seq.Rows}; the context limit is {MaxContext}.");
        }
    }
}

public sealed class ForwardContext
{
    public WorkerPool Pool { get; }
    public ActivationPrecision Precision { get; }

    public ForwardContext(WorkerPool pool, ActivationPrecision precision = ActivationPrecision.Fp32)
    {
        Pool = pool;
        Precision = precision;
    }

    /// <summary>y (M, N) = x (M, K) · W_gᵀ, then rounded to the activation precision.</summary>
    public void Linear(LinearWeight w, ReadOnlySpan<float> x, int m, Span<float> y, int group = 0)
    {
        w.Forward(Pool, group, x, m, y);
        Round(y[..(m * w.OutFeatures)]);
    }

    /// <summary>ya = x · Aᵀ and yb = x · Bᵀ of one input (one pool run for a decode batch), each rounded.</summary>
    public void LinearPair(LinearWeight a, LinearWeight b, ReadOnlySpan<float> x, int m, Span<float> ya, Span<float> yb)
    {
        LinearWeight.ForwardPair(Pool, a, b, x, m, ya, yb);
        Round(ya[..(m * a.OutFeatures)]);
        Round(yb[..(m * b.OutFeatures)]);
    }

    /// <summary>Rounds activations to BF16 in place in BF16 mode; nothing in FP32 mode.</summary>
    public void Round(Span<float> x)
    {
        if (Precision != ActivationPrecision.Bf16) return;
        for (int i = 0; i < x.Length; i++) x[i] = Bf16.ToFloat(Bf16.FromFloat(x[i]));
    }
}
