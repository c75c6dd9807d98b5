import { NotFound } from "../components/Feedback";
import { useTitle } from "../lib/useTitle";

export default function NotFoundPage() {
  useTitle("Not found");
  return <NotFound />;
}
