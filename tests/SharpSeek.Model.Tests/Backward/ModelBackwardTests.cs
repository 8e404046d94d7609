using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests.Backward;

/// <summary>Whole-model gradient check: DeepSeekV3.ForwardLoss + Backward (main stack, final head, two MTP depths
/// whose gradient flows back into the main model's normalised hidden states) against FP64 finite differences of a
/// naive FP64 forward of the same model; and DecoderBlock's B/W split.</summary>
public class ModelBackwardTests
{
    internal const float Lambda = 0.3f;

    /// <summary>All layers dense (first_k_dense_replace beyond every layer, MTP blocks included), two MTP depths.</summary>
    private static ModelConfig DenseConfig() => TestConfigs.With(
        """{"num_hidden_layers": 2, "first_k_dense_replace": 8, "num_nextn_predict_layers": 2}""", "dense test config");

    // ---- FP64 reference of the whole model ----

    private static double[] Embed(double[] table, int d, ReadOnlySpan<int> ids)
    {
        var h = new double[ids.Length * d];
        for (int t = 0; t < ids.Length; t++) Array.Copy(table, ids[t] * d, h, t * d, d);
        return h;
    }

    private static double[] Block(ModelConfig c, Params64 p, int layer, double[] x, ForwardBatch batch, ReadOnlySpan<int> experts)
    {
        int T = batch.Tokens, D = c.HiddenSize;
        string pre = $"model.layers.{layer}.";
        double[] attn = Ref64.Mla(c, p, pre + "self_attn.", Ref64.RmsNorm(x, T, p[pre + "input_layernorm.weight"], c.RmsNormEps), batch);
        var m = new double[T * D];
        for (int i = 0; i < m.Length; i++) m[i] = x[i] + attn[i];
        double[] f = Ref64.RmsNorm(m, T, p[pre + "post_attention_layernorm.weight"], c.RmsNormEps);
        double[] o = Reference64.Ffn(c, p, pre + "mlp.", c.IsMoeLayer(layer), f, T, experts);
        for (int i = 0; i < m.Length; i++) o[i] += m[i];
        return o;
    }

    private static double MeanCe(double[] n, int rows, double[] head, int vocab, int d, ReadOnlySpan<int> targets)
    {
        double[] z = Ref64.Linear(n, rows, head, vocab, d);
        double sum = 0;
        int valid = 0;
        for (int r = 0; r < rows; r++)
        {
            if (targets[r] == CrossEntropy.IgnoreIndex) continue;
            double max = double.NegativeInfinity, s = 0;
            for (int v = 0; v < vocab; v++) max = Math.Max(max, z[r * vocab + v]);
            for (int v = 0; v < vocab; v++) s += Math.Exp(z[r * vocab + v] - max);
            sum += Math.Log(s) + max - z[r * vocab + targets[r]];
            valid++;
        }
        return sum / valid;
    }

    /// <summary>The model's loss in FP64; MoE layers use the experts (T, K) the FP32 forward chose (expertsOf(layer)).</summary>
    internal static double ReferenceLoss(ModelConfig c, Params64 p, ForwardBatch batch, int[] targets, Func<int, int[]>? expertsOf = null)
    {
        int D = c.HiddenSize, V = c.VocabSize, T = batch.Tokens, L = c.NumHiddenLayers, depths = c.NumNextnPredictLayers;
        double eps = c.RmsNormEps;
        double[] h = Embed(p["model.embed_tokens.weight"], D, batch.TokenIds);
        for (int l = 0; l < L; l++) h = Block(c, p, l, h, batch, expertsOf?.Invoke(l) ?? []);
        double[] n = Ref64.RmsNorm(h, T, p["model.norm.weight"], eps);
        double loss = MeanCe(n, T, p["lm_head.weight"], V, D, targets);
        // MTP: depth k row i of sequence s uses t[i+k] and the previous depth's row i of s
        var prevFirst = batch.Sequences.ToArray().Select(s => s.FirstRow).ToArray();
        for (int k = 1; k <= depths; k++)
        {
            string pre = $"model.layers.{L + k - 1}.";
            var kb = new ForwardBatch(T, batch.SequenceCount);
            var hPrev = new List<double>();
            var kTargets = new List<int>();
            var first = new int[batch.SequenceCount];
            for (int s = 0; s < batch.SequenceCount; s++)
            {
                var seq = batch.Sequences[s];
                int rows = seq.Rows - k;
                first[s] = kb.Tokens;
                if (rows <= 0) continue;
                kb.Add(s, 0, batch.TokenIds.Slice(seq.FirstRow + k, rows));
                hPrev.AddRange(n.AsSpan(prevFirst[s] * D, rows * D).ToArray());
                for (int i = 0; i < rows; i++) kTargets.Add(targets[seq.FirstRow + i + k]);
            }
            int R = kb.Tokens;
            double[] e = Ref64.RmsNorm(Embed(p[pre + "embed_tokens.weight"], D, kb.TokenIds), R, p[pre + "enorm.weight"], eps);
            double[] hn = Ref64.RmsNorm(hPrev.ToArray(), R, p[pre + "hnorm.weight"], eps);
            var concat = new double[R * 2 * D];
            for (int r = 0; r < R; r++)
            {
                Array.Copy(e, r * D, concat, r * 2 * D, D);
                Array.Copy(hn, r * D, concat, r * 2 * D + D, D);
            }
            double[] hk = Block(c, p, L + k - 1, Ref64.Linear(concat, R, p[pre + "eh_proj.weight"], D, 2 * D), kb, expertsOf?.Invoke(L + k - 1) ?? []);
            n = Ref64.RmsNorm(hk, R, p[pre + "shared_head.norm.weight"], eps);
            loss += Lambda / depths * MeanCe(n, R, p[pre + "shared_head.head.weight"], V, D, kTargets.ToArray());
            prevFirst = first;
        }
        return loss;
    }

    internal static (ForwardBatch Batch, int[] Targets) Data(int vocab)
    {
        var b = new ForwardBatch(9, 2);
        b.Add(0, 0, [3, 17, 42, 8, 61]);
        b.Add(1, 0, [29, 5, 77, 11]);
        int[] targets = [17, 42, 8, 61, 90, 5, 77, 11, CrossEntropy.IgnoreIndex];
        return (b, targets.Select(t => t == CrossEntropy.IgnoreIndex ? t : t % vocab).ToArray());
    }

    [Fact]
    public void WholeModel_Backward_MatchesFiniteDifferences_WithMtp()
    {
        var c = DenseConfig();
        using var w = TestConfigs.RandomWeights(c, seed: 21);
        MlaBackwardTests.RandomizeNorms(w, 22);
        w.EnableGradients();
        var (batch, targets) = Data(c.VocabSize);
        using var pool = new WorkerPool(2);
        using var model = new DeepSeekV3(w, new ForwardContext(pool), new ForwardCapacity(batch.Tokens, 2, 16));
        double main = model.ForwardLoss(batch, targets);
        double total = main + Lambda / c.NumNextnPredictLayers * (model.MtpLosses[0] + model.MtpLosses[1]);
        model.Backward(Lambda);

        var p = new Params64(w);
        double Loss() => ReferenceLoss(c, p, batch, targets);
        Assert.True(Math.Abs(Loss() - total) < 1e-4 * Math.Abs(total), $"FP64 reference loss {Loss()} vs model {total}");
        // 1e-3 of each gradient's scale: the FP64 differences are exact to ~1e-8; the FP32 backward chains two
        // blocks, two MTP depths and the heads (~1e-5 relative); a dropped path (e.g. MTP → main) is off by > 1e-2.
        var rng = new Random(23);
        foreach (var param in w.TrainableParameters())
            SampledCheck.Check(param.Name, p[param.Name], param.GradientSpan, Loss, rng, 8, 1e-3);
    }

    [Fact]
    public void WholeModel_MtpGradient_ReachesTheMainStack()
    {
        // With λ = 0 the main stack's gradients differ from λ > 0 only through MTP → n → main model.
        var c = DenseConfig();
        var (batch, targets) = Data(c.VocabSize);
        using var pool = new WorkerPool(2);
        float[] Grad(float lambda)
        {
            using var w = TestConfigs.RandomWeights(c, seed: 21);
            w.EnableGradients();
            using var model = new DeepSeekV3(w, new ForwardContext(pool), new ForwardCapacity(batch.Tokens, 2, 16));
            model.ForwardLoss(batch, targets);
            model.Backward(lambda);
            return w.Linear("model.layers.0.self_attn.o_proj.weight").Gradient.Span.ToArray();
        }
        float[] without = Grad(0), with = Grad(Lambda);
        Assert.Contains(Enumerable.Range(0, with.Length), i => Math.Abs(with[i] - without[i]) > 1e-6f);
    }

    [Fact]
    public void WholeModel_SplitBackwardWithWeightsLast_EqualsBackward_AndAllocatesNothingAfterWarmup()
    {
        var c = DenseConfig();
        var (batch, targets) = Data(c.VocabSize);
        using var pool = new WorkerPool(2);
        float[][] Run(bool split)
        {
            using var w = TestConfigs.RandomWeights(c, seed: 31);
            w.EnableGradients();
            using var model = new DeepSeekV3(w, new ForwardContext(pool), new ForwardCapacity(batch.Tokens, 2, 16));
            model.ForwardLoss(batch, targets);
            if (split) { model.BackwardInput(Lambda); model.BackwardWeights(); }
            else model.Backward(Lambda);
            if (split)
            {
                // a second step after warm-up (first backward allocated the gradient buffers) allocates nothing
                var keep = w.TrainableParameters().Select(t => t.GradientSpan.ToArray()).ToArray();
                long before = GC.GetAllocatedBytesForCurrentThread();
                model.ForwardLoss(batch, targets);
                model.Backward(Lambda);
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                Assert.True(allocated == 0, $"a training step after warm-up allocated {allocated} managed bytes");
                return keep;
            }
            return w.TrainableParameters().Select(t => t.GradientSpan.ToArray()).ToArray();
        }
        float[][] a = Run(false), b = Run(true);
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i], b[i]);
    }
}
