/**
 * What the cloak protects against and what it cannot promise, in plain words (issue 5). Shown in the popup behind a
 * disclosure (the headline number links to it) and as its own page, explainer.html, that the protect page's matrix
 * links to. Every claim matches README "What it protects against" and "How strong is the cloak": measured, not hoped.
 */
import './explainer.css';

export function Explainer() {
  return (
    <div class="fc-explainer">
      <h3>What the cloak does</h3>
      <p>
        Face Cloak changes the pixels of each face a little, so that face recognizers in use today find it hard to match
        the face in <em>this photo</em> to you, also after a site or tracker re-compresses, blurs or shrinks it.
      </p>
      <h3>What the estimate means</h3>
      <p>
        After each photo, your device checks the cloaked photo against its own clean version with face recognizers, each
        at a strict threshold (1 in 100 false matches), after five things a site may do to it: nothing, JPEG, blur,
        median filter, resize. The number is the share of those checks in which the face was <em>not</em> matched.
      </p>
      <p>
        It counts only recognizers the cloak <strong>never saw</strong>, because the cloak was optimised against the
        others: their numbers only show that the optimisation ran, not that it protects. It is an estimate from one
        photo and a few recognizers, not a guarantee.
      </p>
      <h3>What it cannot promise</h3>
      <ul>
        <li>Recognizers built later, or trained on cloaked photos, may see through the cloak.</li>
        <li>Photos already online, photos other people post of you, and you in person are not protected.</li>
        <li>Someone may be able to tell that a photo was cloaked.</li>
        <li>
          In our tests the cloak does not yet reach the protection we aim for: at medium strength about seven in ten
          faces escaped the FaceNet-style recognizer it never saw, but only about three in five escaped the stronger
          ArcFace-style one it never saw, and one in fifteen the other.
        </li>
      </ul>
      <p>Everything runs on this device: Face Cloak itself sends nothing over the network.</p>
    </div>
  );
}
