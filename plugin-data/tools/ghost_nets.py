# SPDX-License-Identifier: MIT OR Apache-2.0
"""GHOST network definitions for the exporter, written from docs/reference.md#official-checkpoints-and-the-exporter.

Three architectures whose state_dict layouts are exactly those of the official checkpoints
(fixtures/*.txt list every key and shape; the exporter loads strictly):
  * AEINet('unet', num_blocks=1|2|3): the face-swap generator (G_unet_*.pth)
  * IResNet100: the ArcFace backbone (backbone.pth)
  * LIPSPADEGenerator: the face-enhancement ("super-resolution") generator (10_net_G.pth)
Only torch is needed. Nothing here runs at plugin run time.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------
# AEI-Net generator (docs/reference.md#official-checkpoints-and-the-exporter)


def _up2(x):
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)


def down_block(cin, cout):
    """Conv k4 s2 p1 (no bias), BatchNorm, LeakyReLU(0.1): keys N.0 / N.1."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 4, 2, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.1, inplace=True),
    )


class UpBlock(nn.Module):
    """ConvTranspose k4 s2 p1 (no bias), BatchNorm, LeakyReLU(0.1), then concat with the skip."""

    def __init__(self, cin, cout):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x, skip):
        y = F.leaky_relu(self.bn(self.deconv(x)), 0.1)
        return torch.cat((y, skip), dim=1)


class UnetAttrEncoder(nn.Module):
    """The multi-level attribute encoder ('unet'): eight maps from 2x2 to 256x256."""

    def __init__(self):
        super().__init__()
        chans = [3, 32, 64, 128, 256, 512, 1024, 1024]
        for i in range(7):
            setattr(self, f"conv{i + 1}", down_block(chans[i], chans[i + 1]))
        self.deconv1 = UpBlock(1024, 1024)
        self.deconv2 = UpBlock(2048, 512)
        self.deconv3 = UpBlock(1024, 256)
        self.deconv4 = UpBlock(512, 128)
        self.deconv5 = UpBlock(256, 64)
        self.deconv6 = UpBlock(128, 32)

    def forward(self, x):
        f1 = self.conv1(x)
        f2 = self.conv2(f1)
        f3 = self.conv3(f2)
        f4 = self.conv4(f3)
        f5 = self.conv5(f4)
        f6 = self.conv6(f5)
        a1 = self.conv7(f6)
        a2 = self.deconv1(a1, f6)
        a3 = self.deconv2(a2, f5)
        a4 = self.deconv3(a3, f4)
        a5 = self.deconv4(a4, f3)
        a6 = self.deconv5(a5, f2)
        a7 = self.deconv6(a6, f1)
        a8 = _up2(a7)
        return a1, a2, a3, a4, a5, a6, a7, a8


class AADLayer(nn.Module):
    """Adaptive attentional denormalisation: mixes attribute- and identity-modulated features."""

    def __init__(self, c_x, c_attr, c_id=512):
        super().__init__()
        self.c_x = c_x
        self.conv1 = nn.Conv2d(c_attr, c_x, 1)  # gamma from attributes
        self.conv2 = nn.Conv2d(c_attr, c_x, 1)  # beta from attributes
        self.fc1 = nn.Linear(c_id, c_x)  # gamma from identity
        self.fc2 = nn.Linear(c_id, c_x)  # beta from identity
        self.norm = nn.InstanceNorm2d(c_x, affine=False)
        self.conv_h = nn.Conv2d(c_x, 1, 1)

    def forward(self, h_in, z_attr, z_id):
        h = self.norm(h_in)
        a = self.conv1(z_attr) * h + self.conv2(z_attr)
        n = h.shape[0]
        i = self.fc1(z_id).reshape(n, self.c_x, 1, 1) * h + self.fc2(z_id).reshape(n, self.c_x, 1, 1)
        m = torch.sigmoid(self.conv_h(h))
        return (1.0 - m) * a + m * i


class AADChain(nn.Sequential):
    """[AADLayer, ReLU, Conv3x3] repeated (keys N.*, as the official sequential); each AADLayer
    also receives (z_attr, z_id)."""

    def __init__(self, cin, cout, c_attr, c_id, repeats):
        layers = []
        for k in range(repeats):
            out = cout if k == repeats - 1 else cin
            layers += [AADLayer(cin, c_attr, c_id), nn.ReLU(inplace=True), nn.Conv2d(cin, out, 3, 1, 1, bias=False)]
        super().__init__(*layers)

    def forward(self, x, z_attr, z_id):
        for k in range(0, len(self), 3):
            x = self[k](x, z_attr, z_id)
            x = self[k + 1](x)
            x = self[k + 2](x)
        return x


class AADResBlock(nn.Module):
    def __init__(self, cin, cout, c_attr, c_id, num_blocks):
        super().__init__()
        self.cin, self.cout = cin, cout
        self.add_blocks = AADChain(cin, cout, c_attr, c_id, num_blocks)
        if cin != cout:
            self.last_add_block = AADChain(cin, cout, c_attr, c_id, 1)

    def forward(self, h, z_attr, z_id):
        x = self.add_blocks(h, z_attr, z_id)
        if self.cin != self.cout:
            h = self.last_add_block(h, z_attr, z_id)
        return x + h


class AADGenerator(nn.Module):
    def __init__(self, c_id=512, num_blocks=2):
        super().__init__()
        self.up1 = nn.ConvTranspose2d(c_id, 1024, kernel_size=2, stride=1, padding=0)
        spec = [(1024, 1024, 1024), (1024, 1024, 2048), (1024, 1024, 1024), (1024, 512, 512),
                (512, 256, 256), (256, 128, 128), (128, 64, 64), (64, 3, 64)]
        for i, (cin, cout, ca) in enumerate(spec):
            setattr(self, f"AADBlk{i + 1}", AADResBlock(cin, cout, ca, c_id, num_blocks))

    def forward(self, z_attr, z_id):
        m = self.up1(z_id.reshape(z_id.shape[0], -1, 1, 1))
        for i in range(7):
            m = _up2(getattr(self, f"AADBlk{i + 1}")(m, z_attr[i], z_id))
        return torch.tanh(self.AADBlk8(m, z_attr[7], z_id))


class AEINet(nn.Module):
    """AEI_Net('unet', num_blocks, c_id=512). forward(Xt, z_id) -> Y (the official one also returns attr)."""

    def __init__(self, num_blocks=2, c_id=512):
        super().__init__()
        self.encoder = UnetAttrEncoder()
        self.generator = AADGenerator(c_id, num_blocks)

    def forward(self, target, source):
        return self.generator(self.encoder(target), source)


# ----------------------------------------------------------------------------------------------
# ArcFace iresnet100 (insightface arcface_torch layout, layers [3, 13, 30, 3])


class IBasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-5)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample = downsample

    def forward(self, x):
        y = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return y + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    def __init__(self, layers=(3, 13, 30, 3), num_features=512):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        self.layer1 = self._layer(64, layers[0])
        self.layer2 = self._layer(128, layers[1])
        self.layer3 = self._layer(256, layers[2])
        self.layer4 = self._layer(512, layers[3])
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.fc = nn.Linear(512 * 7 * 7, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False

    def _layer(self, planes, blocks):
        down = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, 2, bias=False), nn.BatchNorm2d(planes, eps=1e-5))
        mods = [IBasicBlock(self.inplanes, planes, 2, down)]
        self.inplanes = planes
        mods += [IBasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.bn2(x), 1)
        return self.features(self.fc(x))


def iresnet100():
    return IResNet((3, 13, 30, 3))


# ----------------------------------------------------------------------------------------------
# LIPSPADE face-enhancement generator (docs/reference.md#official-checkpoints-and-the-exporter)

LIP_COEFF = 12.0


class SimplifiedLIP(nn.Module):
    """Local importance pooling: 3x3 stride-2 average pooling weighted by exp(12*sigmoid(IN(conv(x))))."""

    def __init__(self, c):
        super().__init__()
        self.logit = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.InstanceNorm2d(c, affine=True))

    def forward(self, x):
        w = torch.exp(torch.sigmoid(self.logit(x)) * LIP_COEFF)
        return F.avg_pool2d(x * w, 3, 2, 1) / F.avg_pool2d(w, 3, 2, 1)


class LIPEncoder(nn.Module):
    def __init__(self, ngf=48):
        super().__init__()
        chans = [ngf, ngf * 2, ngf * 4, ngf * 8, ngf * 16, ngf * 16]
        mods = [nn.Conv2d(3, ngf, 3, padding=1, bias=False), nn.InstanceNorm2d(ngf), nn.ReLU(inplace=True)]
        for i in range(5):
            mods += [SimplifiedLIP(chans[i]), nn.Conv2d(chans[i], chans[i + 1], 3, padding=1), nn.InstanceNorm2d(chans[i + 1])]
            if i < 4:
                mods.append(nn.ReLU(inplace=True))
        self.model = nn.Sequential(*mods)

    def forward(self, x):
        return self.model(x)


class BatchStatNorm(nn.Module):
    """BatchNorm without affine that always uses the statistics of the current batch (what the
    official inference does by running the SR net in train mode). Exports to plain ONNX ops."""

    def __init__(self, eps=1e-5):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps)


class SPADE(nn.Module):
    def __init__(self, norm_nc, label_nc=3):
        super().__init__()
        nhidden = min(128, norm_nc)
        self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, nhidden, 3, padding=1), nn.ReLU(inplace=True))
        self.mlp_gamma = nn.Conv2d(nhidden, norm_nc, 3, padding=1, bias=False)
        self.mlp_beta = nn.Conv2d(nhidden, norm_nc, 3, padding=1, bias=False)

    def forward(self, x, seg):
        normalized = self.param_free_norm(x)
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(seg)
        return normalized * self.mlp_gamma(actv) + self.mlp_beta(actv)


class SPADEResBlock(nn.Module):
    def __init__(self, fin, fout, spectral=True):
        super().__init__()
        sn = nn.utils.spectral_norm if spectral else (lambda m: m)
        self.learned_shortcut = fin != fout
        fmid = min(fin, fout)
        self.conv_0 = sn(nn.Conv2d(fin, fmid, 3, padding=1))
        self.conv_1 = sn(nn.Conv2d(fmid, fout, 3, padding=1))
        if self.learned_shortcut:
            self.conv_s = sn(nn.Conv2d(fin, fout, 1, bias=False))
        self.norm_0 = SPADE(fin)
        self.norm_1 = SPADE(fmid)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin)

    def forward(self, x, seg):
        xs = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return xs + dx


class LIPSPADEGenerator(nn.Module):
    """Input and segmentation map are the same RGB image in [0,1] (N,3,256,256); output from tanh."""

    def __init__(self, ngf=48, spectral=True):
        super().__init__()
        c = ngf * 16
        self.fc = nn.Conv2d(3, c, 3, padding=1)  # present in the checkpoint, unused
        self.head_0 = SPADEResBlock(c, c, spectral)
        self.G_middle_0 = SPADEResBlock(c, c, spectral)
        self.G_middle_1 = SPADEResBlock(c, c, spectral)
        outs = [ngf * 8, ngf * 4, ngf * 2, ngf]
        ins = [c] + outs[:-1]
        self.ups = nn.ModuleList([SPADEResBlock(i, o, spectral) for i, o in zip(ins, outs)])
        self.to_rgbs = nn.ModuleList([nn.Conv2d(o, 3, 3, padding=1) for o in outs])
        self.lip_encoder = LIPEncoder(ngf)

    def forward(self, x):
        seg = x
        h = self.lip_encoder(x)
        h = self.head_0(h, seg)
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        h = self.G_middle_0(h, seg)
        h = self.G_middle_1(h, seg)
        for up in self.ups:
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = up(h, seg)
        return torch.tanh(self.to_rgbs[-1](F.leaky_relu(h, 0.2)))


def bake_for_export(sr):
    """A copy of an SR generator for export: each spectral-norm weight baked as the official
    train-mode inference computes it on its first call (one power iteration from the stored u),
    and each batch norm replaced by BatchStatNorm (statistics of the current batch)."""
    import copy
    from torch.nn.utils.spectral_norm import SpectralNorm

    m = copy.deepcopy(sr)
    for mod in list(m.modules()):
        hooks = [(k, h) for k, h in mod._forward_pre_hooks.items() if isinstance(h, SpectralNorm)]
        for k, hook in hooks:
            with torch.no_grad():
                w = hook.compute_weight(mod, do_power_iteration=True).detach().clone()
            del mod._forward_pre_hooks[k]
            delattr(mod, hook.name)
            del mod._parameters[hook.name + "_orig"]
            del mod._buffers[hook.name + "_u"]
            del mod._buffers[hook.name + "_v"]
            mod.weight = nn.Parameter(w)
    for mod in list(m.modules()):
        if isinstance(mod, SPADE):
            mod.param_free_norm = BatchStatNorm(mod.param_free_norm.eps)
    return m.eval()
