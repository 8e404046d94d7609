using SharpSeek.Numerics;
using SharpSeek.Training;
using SharpSeek.Training.Checkpoints;

namespace SharpSeek.Training.Tests;

public class CheckpointDirectoryTests
{
    private sealed class SimulatedCrash(string stage) : Exception($"crash at {stage}");

    private static IReadOnlyList<CheckpointFile> Files(string version) =>
    [
        new("config.json", p => File.WriteAllText(p, $"{{\"v\": \"{version}\"}}")),
        new("model.safetensors", p => File.WriteAllBytes(p, Enumerable.Repeat((byte)version[0], 4096).ToArray())),
        new("optimizer.safetensors", p => File.WriteAllBytes(p, new byte[100 + version.Length])),
    ];

    private static string VersionIn(string dir) => File.ReadAllText(Path.Combine(dir, "config.json"));

    [Fact]
    public void Save_ThenResolve_RoundTripsStateAndManifest()
    {
        using var tmp = new TempDir();
        var rng = new Xoshiro256(9);
        var state = new TrainerState { Step = 12, DataPosition = 96, Seed = 9, RngState = rng.State, LastLoss = 3.5,
            Options = new TrainingOptions { Steps = 40, Lr = 2e-3 } };
        string dir = CheckpointDirectory.Save(tmp.Path, Files("a"), state);
        Assert.Equal(dir, CheckpointDirectory.Resolve(tmp.Path));
        TrainerState back = TrainerState.Load(Path.Combine(dir, TrainerState.FileName));
        Assert.Equal((12L, 96L, 3.5), (back.Step, back.DataPosition, back.LastLoss!.Value));
        Assert.Equal(rng.State, back.RngState);
        Assert.Equal(2e-3, back.Options!.Lr);
        Assert.Equal(4096, back.Files["model.safetensors"]);
        Assert.Equal(3, back.Files.Count);
        Assert.False(Directory.Exists(Path.Combine(tmp.Path, CheckpointDirectory.TemporaryName)));
        Assert.False(Directory.Exists(Path.Combine(tmp.Path, CheckpointDirectory.PreviousName)));
    }

    [Theory]
    [InlineData("file:config.json")]
    [InlineData("file:model.safetensors")]
    [InlineData("file:optimizer.safetensors")]
    [InlineData("retired")]
    public void CrashDuringSave_LeavesPreviousCheckpointLoadable_AndNextSaveRecovers(string stage)
    {
        using var tmp = new TempDir();
        CheckpointDirectory.Save(tmp.Path, Files("old"), new TrainerState { Step = 1 });
        Assert.Throws<SimulatedCrash>(() => CheckpointDirectory.Save(tmp.Path, Files("new"), new TrainerState { Step = 2 },
            s => { if (s == stage) throw new SimulatedCrash(s); }));

        string? resolved = CheckpointDirectory.Resolve(tmp.Path);
        Assert.NotNull(resolved);
        Assert.Contains("old", VersionIn(resolved));
        Assert.Equal(1, TrainerState.Load(Path.Combine(resolved, TrainerState.FileName)).Step);

        string next = CheckpointDirectory.Save(tmp.Path, Files("newer"), new TrainerState { Step = 3 });
        Assert.Contains("newer", VersionIn(next));
        Assert.Equal(next, CheckpointDirectory.Resolve(tmp.Path));
        Assert.Equal([CheckpointDirectory.CurrentName], Directory.GetDirectories(tmp.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void TruncatedFile_MakesCheckpointIncomplete()
    {
        using var tmp = new TempDir();
        string dir = CheckpointDirectory.Save(tmp.Path, Files("a"), new TrainerState());
        string model = Path.Combine(dir, "model.safetensors");
        File.WriteAllBytes(model, File.ReadAllBytes(model)[..100]);
        Assert.False(CheckpointDirectory.IsComplete(dir));
        Assert.Null(CheckpointDirectory.Resolve(tmp.Path));
    }

    [Fact]
    public void ReservedOrNestedNames_AreRejected()
    {
        using var tmp = new TempDir();
        Assert.Throws<ArgumentException>(() => CheckpointDirectory.Save(tmp.Path,
            [new CheckpointFile(TrainerState.FileName, _ => { })], new TrainerState()));
        Assert.Throws<ArgumentException>(() => CheckpointDirectory.Save(tmp.Path,
            [new CheckpointFile("a/b", _ => { })], new TrainerState()));
    }

    [Fact]
    public void Rng_StateRestores_TheSameStream_AndGaussianHasUnitMoments()
    {
        var a = new Xoshiro256(5);
        for (int i = 0; i < 10; i++) a.NextUInt64();
        var b = new Xoshiro256(0) { State = a.State };
        for (int i = 0; i < 10; i++) Assert.Equal(a.NextUInt64(), b.NextUInt64());
        var x = new float[200_000];
        new Xoshiro256(1).FillNormal(x, 0.006);
        double mean = x.Average(v => (double)v), var = x.Average(v => (double)v * v) - mean * mean;
        Assert.InRange(mean, -0.0001, 0.0001);
        Assert.InRange(Math.Sqrt(var), 0.00597, 0.00603);
        Assert.Throws<InvalidDataException>(() => a.State = [0, 0, 0, 0]);
    }
}
