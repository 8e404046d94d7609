using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests.Backward;

/// <summary>MlaAttention (naive, causal, two sequences in one batch) backward against FP64 finite differences of
/// L = Σ g ⊙ MLA(x), for q_lora, q_proj and YaRN configs; and the B/W split.</summary>
public class MlaBackwardTests
{
    public static TheoryData<string> Variants() => new(["base", "q_lora_null", "yarn"]);

    /// <summary>RMSNorm weights 1 ± 0.3 (not all ones, so their gradients are not a special case).</summary>
    internal static void RandomizeNorms(ModelWeights w, int seed)
    {
        var rng = new Random(seed);
        foreach (var spec in w.Manifest)
            if (spec.Shape.Length == 1 && ModelWeights.IsTrainableVector(spec.Name))
                foreach (ref float v in w.Vector(spec.Name).Span) v = 1 + (float)(0.6 * rng.NextDouble() - 0.3);
    }

    internal static ForwardBatch TwoSequences(int vocab)
    {
        var b = new ForwardBatch(7, 2);
        b.Add(0, 0, [1 % vocab, 5 % vocab, 9 % vocab, 2 % vocab]);
        b.Add(1, 0, [7 % vocab, 3 % vocab, 4 % vocab]);
        return b;
    }

    private const string Prefix = "model.layers.0.self_attn.";

    [Theory]
    [MemberData(nameof(Variants))]
    public void Mla_Backward_MatchesFiniteDifferences(string variant)
    {
        var c = TestConfigs.Make(variant);
        using var w = TestConfigs.RandomWeights(c);
        RandomizeNorms(w, 11);
        w.EnableGradients();
        var batch = TwoSequences(c.VocabSize);
        int T = batch.Tokens, D = c.HiddenSize;
        var rng = new Random(12);
        float[] x = GradCheck.Random(rng, T * D), g = GradCheck.Random(rng, T * D);
        using var pool = new WorkerPool(2);
        var ctx = new ForwardContext(pool);
        var cap = new ForwardCapacity(T, 2, 16);
        var rope = new RotaryEmbedding(c, 16);
        using var mla = new MlaAttention(c, w, Prefix, rope, cap);
        var y = new float[T * D];
        mla.Forward(ctx, batch, x, y, null, 0, MlaPath.Naive);
        var dx = new float[T * D];
        mla.Backward(ctx, batch, x, g, dx);

        var p = new Params64(w);
        double[] xd = GradCheck.ToDouble(x);
        double Loss() => Ref64.Dot(Ref64.Mla(c, p, Prefix, xd, batch), g);
        Assert.True(Math.Abs(Loss() - Ref64.Dot(GradCheck.ToDouble(y), g)) < 1e-3, "the FP64 reference forward disagrees with the layer");
        // Tolerance 1e-3 of the gradient's scale: FP64 differences are exact to ~1e-8; the FP32 backward chains ~6
        // GEMMs, a softmax and two RMSNorms (~1e-5 relative in total); a wrong term is off by > 1e-1.
        const double tol = 1e-3;
        SampledCheck.Check("dx", xd, dx, Loss, rng, 120, tol);
        string[] names = c.HasQLora
            ? ["q_a_proj.weight", "q_a_layernorm.weight", "q_b_proj.weight", "kv_a_proj_with_mqa.weight", "kv_a_layernorm.weight", "kv_b_proj.weight", "o_proj.weight"]
            : ["q_proj.weight", "kv_a_proj_with_mqa.weight", "kv_a_layernorm.weight", "kv_b_proj.weight", "o_proj.weight"];
        foreach (string n in names)
        {
            string name = Prefix + n;
            ReadOnlySpan<float> analytic = w.IsVector(name) ? w.VectorGradient(name).Span : w.Linear(name).Gradient.Span;
            SampledCheck.Check(name, p[name], analytic, Loss, rng, 60, tol);
        }
    }

    [Fact]
    public void Mla_WeightsStepAfterAnotherLayersInputStep_EqualsBackward()
    {
        var c = TestConfigs.Make("base");
        var batch = TwoSequences(c.VocabSize);
        int T = batch.Tokens, D = c.HiddenSize;
        var rng = new Random(13);
        float[] x = GradCheck.Random(rng, T * D), g = GradCheck.Random(rng, T * D), x2 = GradCheck.Random(rng, T * D);
        using var pool = new WorkerPool(2);
        var ctx = new ForwardContext(pool);
        var cap = new ForwardCapacity(T, 2, 16);
        var rope = new RotaryEmbedding(c, 16);

        float[][] Run(bool split)
        {
            using var w = TestConfigs.RandomWeights(c);
            w.EnableGradients();
            using var a = new MlaAttention(c, w, "model.layers.0.self_attn.", rope, cap);
            using var b = new MlaAttention(c, w, "model.layers.1.self_attn.", rope, cap);
            var y = new float[T * D];
            var dx = new float[T * D];
            var dxB = new float[T * D];
            a.Forward(ctx, batch, x, y, null, 0, MlaPath.Naive);
            b.Forward(ctx, batch, x2, y, null, 1, MlaPath.Naive);
            if (split)
            {
                a.BackwardInput(ctx, batch, g, dx);
                b.BackwardInput(ctx, batch, x, dxB);      // B of another layer in between
                a.BackwardWeights(ctx, x);
            }
            else
            {
                a.Backward(ctx, batch, x, g, dx);
            }
            return [dx, .. w.TrainableParameters().Where(t => t.Name.StartsWith("model.layers.0.")).Select(t => t.GradientSpan.ToArray())];
        }

        float[][] whole = Run(split: false), split = Run(split: true);
        Assert.Equal(whole.Length, split.Length);
        for (int i = 0; i < whole.Length; i++) Assert.Equal(whole[i], split[i]);
        Assert.Contains(whole, a => a.Any(v => v != 0));
    }

    [Fact]
    public void Mla_BackwardAfterAbsorbedForward_Throws()
    {
        var c = TestConfigs.Make("base");
        using var w = TestConfigs.RandomWeights(c);
        w.EnableGradients();
        var batch = TwoSequences(c.VocabSize);
        int T = batch.Tokens, D = c.HiddenSize;
        using var pool = new WorkerPool(1);
        var ctx = new ForwardContext(pool);
        using var mla = new MlaAttention(c, w, Prefix, new RotaryEmbedding(c, 16), new ForwardCapacity(T, 2, 16));
        mla.Forward(ctx, batch, new float[T * D], new float[T * D], null, 0, MlaPath.Absorbed);
        Assert.Throws<InvalidOperationException>(() => mla.BackwardInput(ctx, batch, new float[T * D], new float[T * D]));
    }
}
