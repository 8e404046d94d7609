// RefCheckRunner — computes a response.json for a request.json (../shared/refcheck/README.md):
//   decode_logits: prefill prompt_ids at position 0 (naive MLA, latent cache), row 0 = last position; row k ≥ 1 =
//                  decode_feed_ids[k-1] alone at position len(prompt) + k - 1 (absorbed MLA over the cache),
//                  teacher-forced.
//   full_logits:   one causal cache-free pass over full_sequence_ids (naive MLA), one row per position.
//   mtp_logits:    when requested and the checkpoint has MTP layers: every depth's rows after the full pass,
//                  depth 1 first (row i of depth k predicts t[i+k+1]).
using SharpSeek.Model;
using SharpSeek.Model.Checkpoints;
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Inference.RefCheck;

public static class RefCheckRunner
{
    public static RefCheckResponse Run(string requestPath, ActivationPrecision precision, WeightDType dtype, WorkerPool pool)
    {
        var (req, ckptDir) = RefCheckRequest.Load(requestPath);
        var (config, weights) = CheckpointLoader.Load(ckptDir, dtype);
        using (weights)
            return Run(req, weights, precision, pool);
    }

    public static RefCheckResponse Run(RefCheckRequest req, ModelWeights weights, ActivationPrecision precision, WorkerPool pool)
    {
        int p = req.PromptIds.Length, steps = Math.Max(1, req.DecodeSteps);
        int maxTokens = Math.Max(p, req.FullSequenceIds.Length);
        int maxContext = Math.Max(p + steps, req.FullSequenceIds.Length);
        var ctx = new ForwardContext(pool, precision);
        using var model = new DeepSeekV3(weights, ctx, new ForwardCapacity(maxTokens, 1, maxContext));
        int vocab = model.Vocab;

        // decode: prefill then cached single-token steps
        var decode = new float[req.DecodeSteps][];
        using (var cache = new LatentKvCache(weights.Config, 1, maxContext))
        {
            var batch = new ForwardBatch(maxTokens, 1);
            var logits = new float[vocab];
            for (int k = 0; k < req.DecodeSteps; k++)
            {
                batch.Clear();
                if (k == 0) batch.Add(0, 0, req.PromptIds);
                else batch.Add(0, p + k - 1, [req.DecodeFeedIds[k - 1]]);
                model.Forward(batch, cache, k == 0 ? MlaPath.Naive : MlaPath.Absorbed);
                model.Logits([batch.Tokens - 1], logits);
                decode[k] = (float[])logits.Clone();
            }
        }

        // full sequence, and MTP on top of it
        float[][] full = [];
        float[][]? mtp = null;
        if (req.FullSequenceIds.Length > 0)
        {
            var batch = ForwardBatch.Single(req.FullSequenceIds);
            model.Forward(batch, null, MlaPath.Naive);
            int T = batch.Tokens;
            var rows = Enumerable.Range(0, T).ToArray();
            var all = new float[T * vocab];
            model.Logits(rows, all);
            full = Split(all, T, vocab);
            if (req.Mtp && weights.Config.NumNextnPredictLayers > 0)
            {
                var buf = new float[weights.Config.NumNextnPredictLayers * T * vocab];
                int[] counts = model.MtpForward(batch, buf);
                mtp = Split(buf, counts.Sum(), vocab);
            }
        }
        return new RefCheckResponse
        {
            Precision = precision == ActivationPrecision.Bf16 ? "bf16" : "fp32",
            DecodeLogits = decode,
            FullLogits = full,
            MtpLogits = mtp,
        };
    }

    private static float[][] Split(float[] flat, int rows, int vocab)
    {
        var r = new float[rows][];
        for (int i = 0; i < rows; i++) r[i] = flat.AsSpan(i * vocab, vocab).ToArray();
        return r;
    }
}
