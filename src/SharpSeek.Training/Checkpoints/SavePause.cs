// SavePause — lets a test kill -9 a training process at a chosen moment inside a checkpoint save.
//
//   SHARPSEEK_CHECKPOINT_PAUSE=STAGE[@N]     e.g. "writing:model.safetensors@2", "renamed@3"
//
// On the N-th save of the process (1-based, default 1), when CheckpointDirectory.Save or TrainingCheckpoint reaches
// STAGE, the process prints "sharpseek: checkpoint save paused at STAGE" on stderr and sleeps until it is killed.
// Stages: "begin", "writing:FILE" (half of a safetensors file's tensors written and flushed), "file:FILE" (FILE
// complete and fsynced), "written", "renamed", "linked" — see CheckpointDirectory. Unset, it costs nothing.
namespace SharpSeek.Training.Checkpoints;

public sealed class SavePause
{
    public const string EnvironmentVariable = "SHARPSEEK_CHECKPOINT_PAUSE";
    public const string Marker = "sharpseek: checkpoint save paused at ";

    public string Stage { get; }
    public int Save { get; }
    private int _saves;

    public SavePause(string stage, int save)
    {
        ArgumentException.ThrowIfNullOrEmpty(stage);
        ArgumentOutOfRangeException.ThrowIfLessThan(save, 1);
        (Stage, Save) = (stage, save);
    }

    /// <summary>The pause the environment asks for, or null.</summary>
    public static SavePause? FromEnvironment()
    {
        string? value = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrEmpty(value)) return null;
        int at = value.LastIndexOf('@');
        if (at < 0) return new SavePause(value, 1);
        if (!int.TryParse(value.AsSpan(at + 1), out int save) || save < 1)
            throw new ArgumentException($"{EnvironmentVariable}='{value}': the part after '@' must be a save number >= 1 (STAGE[@N]).");
        return new SavePause(value[..at], save);
    }

    /// <summary>The hook for CheckpointDirectory.Save: counts saves at "begin", blocks forever at the chosen stage.</summary>
    public void Hook(string stage)
    {
        if (stage == CheckpointDirectory.StageBegin) _saves++;
        if (_saves != Save || stage != Stage) return;
        Console.Error.WriteLine(Marker + stage);
        Console.Error.Flush();
        Thread.Sleep(Timeout.Infinite);
    }
}
