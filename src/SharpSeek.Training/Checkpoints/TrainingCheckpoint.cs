// TrainingCheckpoint — what a training run saves and resumes from, in one directory (CheckpointDirectory makes it
// crash-safe):
//
//   config.json              the model's HF config
//   model.safetensors        FP32 master weights, every TensorManifest tensor by its HF name (the balancer's
//                            e_score_correction_bias included), so `sharpseek generate` / `logits` load it unchanged
//   tokenizer.json           copied from the run's tokenizer directory
//   tokenizer_config.json
//   optimizer.safetensors    AdamW moments `<name>.exp_avg` (m) and `<name>.exp_avg_sq` (v) of every trained
//                            parameter, FP32 or BF16 as the optimizer keeps them (`--moments`); metadata: step, β1,
//                            β2, ε, weight decay, moments
//   trainer_state.json       step, data position, RNG state, metrics summary, options, file manifest (written last)
//
// Weights are stored in FP32, not BF16, because resume must continue bit-exactly from the master weights.
using System.Globalization;
using System.Runtime.InteropServices;
using SharpSeek.Model;
using SharpSeek.Model.Checkpoints;

namespace SharpSeek.Training.Checkpoints;

public static class TrainingCheckpoint
{
    public const string ConfigFile = "config.json";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string FirstMomentSuffix = ".exp_avg";
    public const string SecondMomentSuffix = ".exp_avg_sq";
    public static readonly string[] TokenizerFiles = ["tokenizer.json", "tokenizer_config.json"];

    /// <summary>Saves a checkpoint as <c>&lt;outDir&gt;/checkpoint</c>; returns its path.</summary>
    public static string Save(string outDir, ModelConfig config, ParameterStore store, AdamW optimizer, string? tokenizerDir,
        TrainerState state, Action<string>? hook = null)
    {
        var files = new List<CheckpointFile>
        {
            new(ConfigFile, config.Save),
            new(SafetensorsFormat.SingleFileName, p => SafetensorsWriter.WriteFile(p,
                WithHookHalfway(WeightTensors(store), hook, SafetensorsFormat.SingleFileName))),
            new(OptimizerFile, p => SafetensorsWriter.WriteFile(p,
                WithHookHalfway(MomentTensors(store, optimizer), hook, OptimizerFile), OptimizerMetadata(optimizer))),
        };
        if (tokenizerDir is not null)
            foreach (string name in TokenizerFiles)
            {
                string src = Path.Combine(tokenizerDir, name);
                if (File.Exists(src)) files.Add(new CheckpointFile(name, dst => File.Copy(src, dst, overwrite: true)));
            }
        return CheckpointDirectory.Save(outDir, files, state with { Step = optimizer.StepCount }, hook);
    }

    /// <summary>Calls <paramref name="hook"/> with "writing:FILE" once half of the tensors are in the stream and
    /// flushed to the file, so a crash test can kill the process in the middle of a file.</summary>
    private static IReadOnlyList<SafetensorsTensor> WithHookHalfway(IReadOnlyList<SafetensorsTensor> tensors, Action<string>? hook, string file)
    {
        if (hook is null || tensors.Count == 0) return tensors;
        var list = tensors.ToList();
        int half = list.Count / 2;
        SafetensorsTensor t = list[half];
        list[half] = new SafetensorsTensor(t.Name, t.DType, t.Shape, t.ByteLength, s =>
        {
            s.Flush();
            hook("writing:" + file);
            t.WriteTo(s);
        });
        return list;
    }

    /// <summary>Restores weights and optimizer moments from <paramref name="dir"/> into <paramref name="store"/> and
    /// <paramref name="optimizer"/>; returns the trainer state.</summary>
    public static TrainerState Load(string dir, ParameterStore store, AdamW optimizer)
    {
        if (!CheckpointDirectory.IsComplete(dir))
            throw new CheckpointException($"{dir}: not a complete training checkpoint (missing or truncated files); resume from another --out or start afresh.");
        TrainerState state = TrainerState.Load(Path.Combine(dir, TrainerState.FileName));
        using (var model = SafetensorsFile.Open(Path.Combine(dir, SafetensorsFormat.SingleFileName)))
            for (int i = 0; i < store.Slots.Count; i++)
                CopyInto(model, store.Slots[i].Name, store.Slots[i].Shape, store.Weights(i));
        using (var opt = SafetensorsFile.Open(Path.Combine(dir, OptimizerFile)))
        {
            for (int i = 0; i < store.Slots.Count; i++)
            {
                if (store.Slots[i].Treatment == ParameterTreatment.Frozen) continue;
                string name = store.Slots[i].Name;
                if (optimizer.Settings.Bf16Moments)
                {
                    CopyInto(opt, name + FirstMomentSuffix, store.Slots[i].Shape, optimizer.FirstMomentBf16(i));
                    CopyInto(opt, name + SecondMomentSuffix, store.Slots[i].Shape, optimizer.SecondMomentBf16(i));
                }
                else
                {
                    CopyInto(opt, name + FirstMomentSuffix, store.Slots[i].Shape, optimizer.FirstMoment(i));
                    CopyInto(opt, name + SecondMomentSuffix, store.Slots[i].Shape, optimizer.SecondMoment(i));
                }
            }
            optimizer.StepCount = ReadStep(opt);
        }
        if (optimizer.StepCount != state.Step)
            throw new CheckpointException($"{dir}: optimizer step {optimizer.StepCount} disagrees with trainer_state.json step {state.Step}; the checkpoint is inconsistent.");
        return state;
    }

    private static unsafe IReadOnlyList<SafetensorsTensor> WeightTensors(ParameterStore store) =>
        store.Slots.Select((s, i) => Tensor(s.Name, s.Shape, store.WeightsView(i).Pointer, s.Length)).ToArray();

    private static unsafe IReadOnlyList<SafetensorsTensor> MomentTensors(ParameterStore store, AdamW optimizer)
    {
        var list = new List<SafetensorsTensor>();
        for (int i = 0; i < store.Slots.Count; i++)
        {
            ParameterSlot s = store.Slots[i];
            if (s.Treatment == ParameterTreatment.Frozen) continue;
            if (optimizer.Settings.Bf16Moments)
            {
                fixed (ushort* m = optimizer.FirstMomentBf16(i)) list.Add(Bf16Tensor(s.Name + FirstMomentSuffix, s.Shape, m, s.Length));
                fixed (ushort* v = optimizer.SecondMomentBf16(i)) list.Add(Bf16Tensor(s.Name + SecondMomentSuffix, s.Shape, v, s.Length));
                continue;
            }
            fixed (float* m = optimizer.FirstMoment(i)) list.Add(Tensor(s.Name + FirstMomentSuffix, s.Shape, m, s.Length));
            fixed (float* v = optimizer.SecondMoment(i)) list.Add(Tensor(s.Name + SecondMomentSuffix, s.Shape, v, s.Length));
        }
        return list;
    }

    // The pointers are into native memory (NativeBuffer), which does not move; they stay valid while the store lives.
    private static unsafe SafetensorsTensor Tensor(string name, long[] shape, float* data, int length) =>
        SafetensorsTensor.FromPointer(name, SafetensorsDType.F32, shape, data, (long)length * sizeof(float));

    private static unsafe SafetensorsTensor Bf16Tensor(string name, long[] shape, ushort* data, int length) =>
        SafetensorsTensor.FromPointer(name, SafetensorsDType.BF16, shape, data, (long)length * sizeof(ushort));

    private static Dictionary<string, string> OptimizerMetadata(AdamW o) => new()
    {
        ["format"] = "sharpseek-adamw-v1",
        ["step"] = o.StepCount.ToString(CultureInfo.InvariantCulture),
        ["beta1"] = o.Settings.Beta1.ToString("R", CultureInfo.InvariantCulture),
        ["beta2"] = o.Settings.Beta2.ToString("R", CultureInfo.InvariantCulture),
        ["eps"] = o.Settings.Epsilon.ToString("R", CultureInfo.InvariantCulture),
        ["weight_decay"] = o.Settings.WeightDecay.ToString("R", CultureInfo.InvariantCulture),
        ["moments"] = o.Settings.Bf16Moments ? "bf16" : "f32",
    };

    private static long ReadStep(SafetensorsFile f) =>
        f.Metadata.TryGetValue("step", out string? s) && long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long step) ? step
            : throw new CheckpointException($"{f.Path}: metadata has no valid 'step'; not a SharpSeek optimizer state.");

    private static void CopyInto(SafetensorsFile file, string name, long[] shape, Span<float> dest) =>
        MemoryMarshal.Cast<byte, float>(Checked(file, name, shape, SafetensorsDType.F32)).CopyTo(dest);

    private static void CopyInto(SafetensorsFile file, string name, long[] shape, Span<ushort> dest) =>
        MemoryMarshal.Cast<byte, ushort>(Checked(file, name, shape, SafetensorsDType.BF16)).CopyTo(dest);

    /// <summary>The bytes of <paramref name="name"/>, which must exist with <paramref name="dtype"/> and <paramref name="shape"/>.</summary>
    private static ReadOnlySpan<byte> Checked(SafetensorsFile file, string name, long[] shape, SafetensorsDType dtype)
    {
        if (!file.Tensors.TryGetValue(name, out SafetensorsTensorInfo? info))
            throw new CheckpointException($"{file.Path}: no tensor '{name}'; the checkpoint was written for a different model (check --preset).");
        if (info.DType != dtype || !info.Shape.AsSpan().SequenceEqual(shape))
            throw new CheckpointException($"{file.Path}: tensor '{name}' is {info.DType} {SafetensorsFormat.ShapeString(info.Shape)}; resume needs {dtype} {SafetensorsFormat.ShapeString(shape)}" +
                (info.DType != dtype && info.Shape.AsSpan().SequenceEqual(shape) ? $" (the run's --moments differs from the checkpoint's)." : "."));
        return file.Bytes(name);
    }
}
